#!/usr/bin/env bash
# release-check.sh - the release check: builds the .deb, installs it with apt into a clean Debian 12 root (mmdebstrap), upgrades over a changed config, removes and purges.
# Slow (a fresh bookworm root from the machine's Debian mirror, a few minutes), so not in ./test;
# run as root before a release. Usage: scripts/release-check.sh [MIRROR]
set -euo pipefail
cd "$(dirname "$0")/.."
MIRROR=${1:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
BUILD_DIR=${BUILD_DIR:-build-deb}

packaging/build-deb.sh "$BUILD_DIR" >/dev/null
deb=$(ls "$BUILD_DIR"/mtad_*.deb)
work=$(mktemp -d /tmp/mtad-release-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$deb" "$work/mtad.deb"

# Run inside the root: apt resolves the dependencies; then the layout and first-run state, a
# changed conffile kept over a reinstall, remove (config and mail stay), purge (mail stays).
cat > "$work/check.sh" <<'CHECK'
set -ex
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q /tmp/mtad.deb >/dev/null
dpkg-query -W -f='${Status}\n' mtad | grep -qx 'install ok installed'
for f in /usr/sbin/mtad /usr/sbin/imapd /usr/sbin/mailctl /usr/sbin/sendmail /usr/lib/mtad/deliver; do
	$f --version
done
test "$(stat -c %U:%G /var/lib/mtad)" = mail:mail
test "$(readlink /usr/lib/sendmail)" = ../sbin/sendmail
mailctl check
printf 'a-long-secret\n' | mailctl user add alice@localhost
echo '# changed by the administrator' >> /etc/mtad/mail.conf
dpkg -i --force-confold /tmp/mtad.deb >/dev/null
grep -q 'changed by the administrator' /etc/mtad/mail.conf
apt-get remove -y -q mtad >/dev/null
test -f /etc/mtad/mail.conf
test -f /var/lib/mtad/users
apt-get purge -y -q mtad >/dev/null
test ! -e /etc/mtad/mail.conf
test -f /var/lib/mtad/users
CHECK

echo "== a clean Debian 12 root from $MIRROR, then apt install ./$(basename "$deb")"
mkdir "$work/root"
mmdebstrap --variant=apt --quiet \
	--customize-hook="copy-in $work/mtad.deb $work/check.sh /tmp" \
	--customize-hook='chroot "$1" sh /tmp/check.sh' \
	bookworm "$work/root" "$MIRROR"
echo "release-check: OK: $(basename "$deb") installs, keeps a changed config over a reinstall, removes, purges (the mail stays)"
