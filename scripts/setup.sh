#!/usr/bin/env bash
# setup.sh - installs the Debian packages the build, the tests and the quick start need (only those missing).
set -euo pipefail

PACKAGES=(
	build-essential cmake pkg-config clang clang-format git
	libssl-dev libc-ares-dev libuv1-dev libmilter-dev libcriterion-dev libcrypt-dev
	openssl python3 swaks libnet-ssleay-perl curl dnsmasq-base isync opendkim opendkim-tools
	valgrind procps iproute2
	dovecot-core dovecot-dev autoconf automake libtool
	libsystemd-dev systemd dpkg-dev lintian devscripts mandoc fail2ban mmdebstrap
	zlib1g-dev libmicrohttpd-dev libcurl4-openssl-dev libunbound-dev dns-root-data
	unbound knot ldnsutils pebble prometheus dovecot-imapd dovecot-lmtpd postfix
	offlineimap3 mutt
	libjansson-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		SUDO=sudo
	else
		SUDO=
	fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
