#!/bin/bash
# test_install.sh - `cmake --install` into a DESTDIR: the tree it makes, the
# configurations kept when present, each man page rendered with `man -l`
# without a warning, the installed programs' --version and that they are the
# very binaries the other tests ran (byte-identical to build/bin), the units
# pointing at them (systemd-analyze verify), the bash completions.
#
# Environment (set by ctest): VMSEAL_BUILD_DIR, VMSEAL_SOURCE_DIR.
set -uo pipefail

fail() { echo "test_install: FAIL: $*" >&2; exit 1; }
[ -n "${VMSEAL_BUILD_DIR:-}" ] && [ -n "${VMSEAL_SOURCE_DIR:-}" ] ||
    fail "VMSEAL_BUILD_DIR / VMSEAL_SOURCE_DIR not set (run through ctest)"
for tool in man systemd-analyze; do
    command -v $tool >/dev/null || fail "$tool not installed (tests/run.sh installs it)"
done
DEST=$(mktemp -d /tmp/vmseal-install.XXXXXX) || fail mktemp
trap 'rm -rf "$DEST"' EXIT
PREFIX=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$VMSEAL_BUILD_DIR/CMakeCache.txt")
VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$VMSEAL_BUILD_DIR/CMakeCache.txt")
[ -n "$PREFIX" ] && [ -n "$VERSION" ] || fail "no prefix or version in CMakeCache.txt"
P=$DEST$PREFIX

DESTDIR=$DEST cmake --install "$VMSEAL_BUILD_DIR" > "$DEST.log" 2>&1 || { cat "$DEST.log"; fail "cmake --install"; }
rm -f "$DEST.log"

# 1. The tree, exactly.
want="/etc/vmseal/producer.conf
/etc/vmseal/vmsealctl.conf
/etc/vmseal/worker.conf
$PREFIX/bin/vmseal-producer
$PREFIX/bin/vmseal-worker
$PREFIX/bin/vmsealctl
$PREFIX/lib/systemd/system/vmseal-producer.service
$PREFIX/lib/systemd/system/vmseal-worker@.service
$PREFIX/lib/sysusers.d/vmseal.conf
$PREFIX/share/bash-completion/completions/vmseal-worker
$PREFIX/share/bash-completion/completions/vmsealctl
$PREFIX/share/doc/vmseal/examples/producer.conf
$PREFIX/share/doc/vmseal/examples/vmsealctl.conf
$PREFIX/share/doc/vmseal/examples/worker.conf
$PREFIX/share/doc/vmseal/grafana/vmseal.json
$PREFIX/share/man/man5/vmseal.conf.5
$PREFIX/share/man/man8/vmseal-producer.8
$PREFIX/share/man/man8/vmseal-worker.8
$PREFIX/share/man/man8/vmsealctl.8"
got=$(cd "$DEST" && find . -type f | sed 's|^\.||' | LC_ALL=C sort)
[ "$got" = "$(echo "$want" | LC_ALL=C sort)" ] || fail "installed tree differs:
$(diff <(echo "$want" | LC_ALL=C sort) <(echo "$got"))"
for f in vmseal-producer vmseal-worker vmsealctl; do
    [ -x "$P/bin/$f" ] || fail "$f not executable"
done
[ "$(stat -c %a "$DEST/etc/vmseal/worker.conf")" = 644 ] || fail "/etc/vmseal/worker.conf not mode 0644"
echo "tree: $(echo "$got" | wc -l) files as expected"

# 2. A configuration already there is kept; a missing one is installed.
echo "# mine" > "$DEST/etc/vmseal/worker.conf"
rm "$DEST/etc/vmseal/producer.conf"
DESTDIR=$DEST cmake --install "$VMSEAL_BUILD_DIR" > /dev/null 2>&1 || fail "second cmake --install"
[ "$(cat "$DEST/etc/vmseal/worker.conf")" = "# mine" ] || fail "an existing /etc/vmseal/worker.conf was overwritten"
cmp -s "$DEST/etc/vmseal/producer.conf" "$VMSEAL_SOURCE_DIR/deploy/config/producer.conf" ||
    fail "a missing /etc/vmseal/producer.conf was not installed"
echo "configs: existing kept, missing installed"

# 3. Each man page renders without a warning and says what it documents.
for page in "$P"/share/man/man*/*; do
    name=$(basename "$page")
    out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2> "$DEST/man.err") || fail "man -l $name"
    [ ! -s "$DEST/man.err" ] || fail "man -l $name: $(cat "$DEST/man.err")"
    grep -q '^NAME' <<< "$out" && grep -q '^SEE ALSO' <<< "$out" || fail "$name: no NAME or SEE ALSO section"
    grep -q "^       ${name%.*} - " <<< "$out" || fail "$name: NAME line does not name ${name%.*}"
    echo "man: $name: $(wc -l <<< "$out") lines"
done

# 4. The installed programs are the built ones (the tests ran these bytes)
#    and say their version.
for f in vmseal-producer vmseal-worker vmsealctl; do
    cmp -s "$P/bin/$f" "$VMSEAL_BUILD_DIR/bin/$f" || fail "$f: installed binary differs from build/bin"
    v=$("$P/bin/$f" --version) || fail "$f --version"
    [ "$v" = "$f $VERSION" ] || fail "$f --version: '$v', want '$f $VERSION'"
done
"$P/bin/vmsealctl" sd create --id 5d000000-0000-4000-8000-0000000000aa "$DEST/sd" > /dev/null ||
    fail "installed vmsealctl sd create"
"$P/bin/vmsealctl" sd list "$DEST/sd" > /dev/null || fail "installed vmsealctl sd list"
echo "binaries: identical to build/bin, --version $VERSION, vmsealctl sd create/list run"

# 5. The units start the installed programs and verify cleanly.
units=$P/lib/systemd/system
grep -q "^ExecStart=$PREFIX/bin/vmseal-producer " "$units/vmseal-producer.service" || fail "producer unit ExecStart"
grep -q "^ExecStart=$PREFIX/bin/vmseal-worker " "$units/vmseal-worker@.service" || fail "worker unit ExecStart"
mkdir "$DEST/units"
for u in "$units"/*.service; do
    sed "s|^ExecStart=$PREFIX/bin/|ExecStart=$P/bin/|" "$u" > "$DEST/units/$(basename "$u")"
done
ln -s "$DEST/units/vmseal-worker@.service" "$DEST/units/vmseal-worker@w1.service"
out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$DEST/units/vmseal-producer.service" \
      "$DEST/units/vmseal-worker@w1.service" 2>&1) || true
[ -z "$out" ] || fail "systemd-analyze verify: $out"
echo "units: ExecStart in $PREFIX/bin, verify clean"

# 6. The completions parse and complete.
complete_words() {   # complete_words FILE WORD...: COMPREPLY for the last word
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
             fn=$(complete -p "$1" | sed "s/.*-F \([^ ]*\) .*/\1/"); $fn; echo "${COMPREPLY[*]}"' _ "$@"
}
c=$P/share/bash-completion/completions
[ "$(complete_words "$c/vmsealctl" vmsealctl su)" = submit ] || fail "vmsealctl su<TAB>"
[ "$(complete_words "$c/vmsealctl" vmsealctl list --state r)" = "rolling_back ready" ] ||
    fail "vmsealctl list --state r<TAB>"
[ "$(complete_words "$c/vmsealctl" vmsealctl sd i)" = import ] || fail "vmsealctl sd i<TAB>"
[ "$(complete_words "$c/vmseal-worker" vmseal-worker --con)" = --config ] || fail "vmseal-worker --con<TAB>"
PATH=$P/bin:$PATH
[ "$(PATH=$PATH complete_words "$c/vmseal-worker" vmseal-worker seal --enable mach)" = machine-id ] ||
    fail "vmseal-worker seal --enable mach<TAB>"
echo "completion: ok"

# 7. The Grafana dashboard is JSON and asks only for metrics the programs export.
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$P/share/doc/vmseal/grafana/vmseal.json" ||
    fail "vmseal.json is not JSON"
for m in $(grep -o 'vmseal_[a-z_]*' "$P/share/doc/vmseal/grafana/vmseal.json" | sed -E 's/_(bucket|sum|count)$//' | sort -u); do
    grep -q "\"$m\"" "$VMSEAL_SOURCE_DIR"/producer/producer_metrics.c "$VMSEAL_SOURCE_DIR"/worker/worker_metrics.c ||
        fail "the dashboard asks for $m, which no program exports"
done
echo "dashboard: every vmseal_* metric it uses is exported"
echo "test_install: PASS"
