#!/usr/bin/env bash
# setup.sh - installs from Debian what the benchmark compares against and measures with, and makes sure no system Postfix or Dovecot is left running.
# Postfix is preseeded to "No configuration": /etc/postfix gets no main.cf and nothing listens on
# port 25. The benchmark never reads or writes /etc/postfix or /etc/dovecot; it runs private
# instances with their own configuration in a temporary directory (see bench/bench.py).
set -euo pipefail

need=()
[ -x /usr/sbin/postfix ] && [ -x /usr/sbin/smtp-source ] && [ -x /usr/sbin/smtp-sink ] || need+=(postfix)
[ -x /usr/sbin/dovecot ] && [ -e /usr/lib/dovecot/imap ] || need+=(dovecot-imapd)
command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
command -v valgrind >/dev/null || need+=(valgrind)
command -v callgrind_annotate >/dev/null || need+=(valgrind)
command -v python3 >/dev/null || need+=(python3)
command -v cc >/dev/null || need+=(gcc)

if [ ${#need[@]} -gt 0 ]; then
	echo "bench/setup.sh: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	# Keep the package scripts from starting system daemons while they install (Docker-style
	# images already have this file; we only add it when absent and remove it afterwards).
	added_policy=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		added_policy=1
	fi
	apt-get update -qq || true
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	[ "$added_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# A system instance must not run: stop it if an install (or anything else) started one, and
# keep it from starting at boot. Our private instances use other pid files and ports.
if [ -e /var/spool/postfix/pid/master.pid ] && kill -0 "$(tr -d ' ' < /var/spool/postfix/pid/master.pid)" 2>/dev/null; then
	postfix stop >/dev/null 2>&1 || true
fi
if [ -e /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
	kill "$(cat /run/dovecot/master.pid)" || true
fi
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
	systemctl disable --now postfix.service dovecot.service >/dev/null 2>&1 || true
elif command -v update-rc.d >/dev/null; then
	update-rc.d postfix disable >/dev/null 2>&1 || true
	update-rc.d dovecot disable >/dev/null 2>&1 || true
fi
id postfix >/dev/null && getent group postdrop >/dev/null && id dovenull >/dev/null && id dovecot >/dev/null
exit 0
