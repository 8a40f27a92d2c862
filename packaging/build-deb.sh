#!/usr/bin/env bash
# build-deb.sh - builds the Debian package mtad_VERSION_ARCH.deb with Debian's hardening flags into build-deb/ (or $1).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build-deb}
# Debian's flags with every hardening feature: PIE, full RELRO (-z relro -z now),
# _FORTIFY_SOURCE=2, -fstack-protector-strong, format-security. CMake reads CFLAGS and
# LDFLAGS (first configure only, so they are passed as cache values), not CPPFLAGS: those go
# with CFLAGS, as debhelper does.
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
CFLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
# What dpkg adds by default from Debian 13 on (hardening-check asks for control-flow integrity):
case "$(dpkg-architecture -qDEB_HOST_ARCH)" in
amd64) CFLAGS="$CFLAGS -fstack-clash-protection -fcf-protection" ;;
arm64) CFLAGS="$CFLAGS -fstack-clash-protection -mbranch-protection=standard" ;;
esac
LDFLAGS="$(dpkg-buildflags --get LDFLAGS)"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=None -DCMAKE_INSTALL_PREFIX=/usr \
	-DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_EXE_LINKER_FLAGS="$LDFLAGS" \
	-DCMAKE_POSITION_INDEPENDENT_CODE=ON -DMAIL_CONFIG_PATH=/etc/mtad/mail.conf \
	-DENABLE_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
(cd "$BUILD_DIR" && cpack -G DEB >/dev/null)
ls "$BUILD_DIR"/mtad_*.deb
