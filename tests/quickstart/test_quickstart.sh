#!/bin/bash
# test_quickstart.sh - run deploy/quickstart.sh --no-install in a temporary
# state folder against the already built tree, check it reported the
# template READY and every artifact removed, then `quickstart.sh stop` and
# check that no process it started is left.
#
# Environment (set by ctest): VMSEAL_BUILD_DIR, VMSEAL_SOURCE_DIR.
set -uo pipefail

fail() { echo "test_quickstart: FAIL: $*" >&2; exit 1; }
[ -n "${VMSEAL_BUILD_DIR:-}" ] && [ -n "${VMSEAL_SOURCE_DIR:-}" ] ||
    fail "VMSEAL_BUILD_DIR / VMSEAL_SOURCE_DIR not set (run through ctest or tests/run.sh)"
[ "$(id -u)" = 0 ] || fail "must run as root (the quickstart starts a RabbitMQ node)"

QS=$VMSEAL_SOURCE_DIR/deploy/quickstart.sh
STATE=$(mktemp -d /tmp/vmseal-qs-test.XXXXXX) || fail "mktemp"
export VMSEAL_QUICKSTART_DIR=$STATE VMSEAL_QUICKSTART_BUILD=$VMSEAL_BUILD_DIR
OUT=$STATE.out
OK=0

cleanup() {
    "$QS" stop > /dev/null 2>&1 || true
    if [ "$OK" = 1 ]; then
        rm -rf "$STATE" "$OUT"
    else
        echo "test_quickstart: state kept in $STATE (output $OUT); last log lines:" >&2
        tail -n 15 "$STATE"/log/*.log >&2 2>/dev/null || true
    fi
}
trap cleanup EXIT

# The processes of this quickstart: anything whose command line names STATE
# (the daemons' --config, the broker's data folder, qemu's disks).  Bash
# builtins only, so that no helper process of ours matches.
leftovers() {
    local p args
    for p in /proc/[0-9]*; do
        mapfile -d '' args < "$p/cmdline" 2>/dev/null || continue
        [[ "${args[*]}" == *"$STATE/"* ]] || continue
        echo "${p#/proc/} ${args[*]:0:4}"
    done
}

t0=$SECONDS
"$QS" --no-install > "$OUT" 2>&1
rc=$?
cat "$OUT"
echo "test_quickstart: quickstart.sh exited $rc after $((SECONDS - t0)) s"
[ $rc = 0 ] || fail "quickstart.sh --no-install exited $rc"

grep -Eq '^template [0-9a-f-]{36} READY$' "$OUT" || fail "no 'template ID READY' line"
line=$(grep -E '^quickstart: sealing removed or reset [0-9]+ of [0-9]+ artifacts' "$OUT") ||
    fail "no artifact summary"
read -r done total <<< "$(sed -E 's/.* ([0-9]+) of ([0-9]+) artifacts.*/\1 \2/' <<< "$line")"
[ "$done" = "$total" ] && [ "$total" -ge 10 ] || fail "artifacts: $line"
grep -q 'application data kept' <<< "$line" || fail "the application data did not stay: $line"
grep -q UNCHANGED "$OUT" && fail "an artifact is UNCHANGED in the template"
grep -Eq 'COW +SHARED +LEGAL' "$OUT" || fail "sd list shows no LEGAL SHARED template volume"
# The services run until stopped.
[ -s "$STATE/run/worker1.pid" ] && [ -s "$STATE/run/producer.pid" ] || fail "no pid files"
[ -n "$(leftovers)" ] || fail "nothing runs after the quickstart"

# An engine on the running system: clients/python/example_engine.py seals a
# second template from the demo disk as the broker user engine, with ids of
# its own, and registers it from its READY event.
port=$(sed -n 's/^export VMSEAL_TEST_BROKER_PORT=//p' "$STATE/broker/env")
read -r img vol < "$STATE/demo.ids"
/usr/bin/python3 "$VMSEAL_SOURCE_DIR/clients/python/example_engine.py" --hosts "127.0.0.1:$port" \
    --password-file "$STATE/secrets/engine.secret" --disk "$(cat "$STATE/sd.id"):$img:$vol" ||
    fail "example_engine.py exited $?"

"$QS" stop || fail "quickstart.sh stop exited $?"
left=$(leftovers)
[ -z "$left" ] || fail "processes left after stop:
$left"
[ -z "$(ls "$STATE/run")" ] || fail "pid files left in $STATE/run"
echo "test_quickstart: PASS ($line) in $((SECONDS - t0)) s"
OK=1
