#!/bin/bash
# run_fuzz.sh - run every libFuzzer target of tests/fuzz for a while.
#
#   tests/fuzz/run_fuzz.sh BUILD_DIR SECONDS_PER_TARGET [TARGET[:SECONDS]...]
#
# A TARGET may carry its own time (seal_lines:60).  Without TARGETs, every
# target runs; the small line parsers of the seal engine get half the time.
# BUILD_DIR is a clang build with -DVMSEAL_FUZZ=ON (fuzz_* in BUILD_DIR/bin).
# Each target starts from its seed corpus (tests/fuzz/corpus/<target>, never
# modified) plus a scratch corpus in a temporary folder, one job, with
# -max_total_time.  Output of each run goes to <tmp>/<target>.log; the last
# status line (executions, coverage) is printed.  Exit status 1 when any
# target crashed, leaked, hit a sanitizer report or timed out (crash inputs
# are kept in the temporary folder, whose path is printed); 0 otherwise.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 2 ] || { echo "usage: run_fuzz.sh BUILD_DIR SECONDS [TARGET...]" >&2; exit 2; }
BUILD=$1 SECS=$2
shift 2
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    half=$(( SECS / 2 > 0 ? SECS / 2 : 1 ))
    TARGETS=(proto_decode rpc_decode control_decode sd_meta config_load seal_fstab qemu_img_info)
    for t in seal_os_release seal_ifcfg seal_interfaces seal_nmconn seal_selinux seal_lines; do
        TARGETS+=("$t:$half")
    done
fi

# libconfig's own parse-error leak is suppressed (lsan.supp says why).
export LSAN_OPTIONS="suppressions=$HERE/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
WORK=$(mktemp -d /tmp/vmseal-fuzz.XXXXXX)
failed=()
for spec in "${TARGETS[@]}"; do
    t=${spec%%:*} secs=$SECS
    [ "$t" = "$spec" ] || secs=${spec#*:}
    bin=$BUILD/bin/fuzz_$t
    [ -x "$bin" ] || { echo "run_fuzz.sh: $bin missing (build with CC=clang -DVMSEAL_FUZZ=ON)" >&2; failed+=("$t"); continue; }
    mkdir -p "$WORK/$t.corpus" "$WORK/$t.artifacts"
    start=$SECONDS
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$WORK/$t.artifacts/" "$WORK/$t.corpus" "$HERE/corpus/$t" > "$WORK/$t.log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$t.log" | tail -1)
    cov=$(grep -E '^#[0-9]+' "$WORK/$t.log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
    if [ $rc -ne 0 ] || ls "$WORK/$t.artifacts"/* >/dev/null 2>&1; then
        echo "FAIL fuzz_$t: exit $rc after $((SECONDS - start)) s; see $WORK/$t.log"
        grep -E 'ERROR|SUMMARY|invariant' "$WORK/$t.log" | head -5
        failed+=("$t")
    else
        echo "ok   fuzz_$t: ${execs:-?} executions in $((SECONDS - start)) s, crashes: 0 ($cov)"
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "run_fuzz.sh: FAILED: ${failed[*]} (kept $WORK)"
    exit 1
fi
rm -rf "$WORK"
exit 0
