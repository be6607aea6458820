#!/bin/bash
# test_install_quickstart.sh - the quickstart's flow (tests/quickstart:
# private broker, producer, two workers, one sealed template) run with the
# programs `cmake --install` put into a DESTDIR (VMSEAL_QUICKSTART_BIN), not
# the build tree's.
#
# Environment (set by ctest): VMSEAL_BUILD_DIR, VMSEAL_SOURCE_DIR.
set -uo pipefail
fail() { echo "test_install_quickstart: FAIL: $*" >&2; exit 1; }
[ -n "${VMSEAL_BUILD_DIR:-}" ] && [ -n "${VMSEAL_SOURCE_DIR:-}" ] || fail "run through ctest"
DEST=$(mktemp -d /tmp/vmseal-install-qs.XXXXXX) || fail mktemp
trap 'rm -rf "$DEST"' EXIT
PREFIX=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$VMSEAL_BUILD_DIR/CMakeCache.txt")
DESTDIR=$DEST cmake --install "$VMSEAL_BUILD_DIR" > /dev/null || fail "cmake --install"
export VMSEAL_QUICKSTART_BIN=$DEST$PREFIX/bin
"$VMSEAL_SOURCE_DIR/tests/quickstart/test_quickstart.sh" 2>&1 | tee "$DEST/qs.out"
[ "${PIPESTATUS[0]}" = 0 ] || fail "the quickstart with $VMSEAL_QUICKSTART_BIN"
grep -qF "binaries in $VMSEAL_QUICKSTART_BIN (not built)" "$DEST/qs.out" || fail "the quickstart did not use the installed programs"
echo "test_install_quickstart: PASS (programs from $VMSEAL_QUICKSTART_BIN)"
