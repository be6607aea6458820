#!/bin/bash
# test_seal_dry_run.sh - `vmseal-worker seal -n` (ctest seal_dry_run, label
# guestfs): one dry run and one real seal of the debian test guest, each on
# its own overlay, with the same choice of operations (virt-sysprep's
# --operations syntax).
#   - the dry run leaves its overlay byte-identical (sha256 before/after) and
#     says it is a dry run (output, summary, --report);
#   - it reports exactly what the real seal removes and changes (the
#     removed/changed lines of both runs, sorted, are equal and not empty),
#     and the real seal did write its overlay;
#   - both ran the chosen operations and only those ("defaults" plus
#     firewall-rules minus tmp-files).
#   - killed by name while it launches, the seal's qemu (stopped, as if
#     hung) dies with it.
# Three appliance launches in all (the last one cut short).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
seal_test_init

OPS=(--operations defaults,firewall-rules --ops -tmp-files)
overlay debian "$TMP/dry.qcow2"
overlay debian "$TMP/real.qcow2"
pristine=$(sha256sum < "$GUESTS/debian.qcow2")
n_defaults=$("$WORKER" seal --list-operations | grep -c '^[a-z0-9-]* \* ')

# paths OUT - the "removed OP PATH" / "changed OP PATH" lines, sorted.
paths() { grep -E '^(removed|changed) ' "$1" | LC_ALL=C sort; }

# chosen LABEL - the last run ran the defaults with firewall-rules, without tmp-files.
chosen() {
    local label=$1
    check_out '^op firewall-rules start' "$label: firewall-rules (asked for) did not run"
    check '! grep -q "^op tmp-files " "$LAST_OUT"' "$label: tmp-files ran although -tmp-files removed it"
    check_out '^op ssh-hostkeys start' "$label: ssh-hostkeys (a default) did not run"
    check_out "^summary .* operations=$n_defaults " \
        "$label: want $n_defaults operations (defaults + firewall-rules - tmp-files): $(grep '^summary' "$LAST_OUT")"
}

echo "== dry run"
before=$(sha256sum < "$TMP/dry.qcow2")
seal_cli -n "${OPS[@]}" --report "$TMP/dry.json" -a "$TMP/dry.qcow2"
cp "$LAST_OUT" "$TMP/dry.out"
after=$(sha256sum < "$TMP/dry.qcow2")
check '[ "$LAST_RC" -eq 0 ]' "dry run failed: $(tail -3 "$LAST_OUT" | tr '\n' ' ')"
check '[ "$before" = "$after" ]' "the dry run changed its overlay: $before -> $after"
check_out '^dry-run: ' "the dry run must say so first"
check_out '^summary .* dry_run=yes$' "the dry run's summary must say dry_run=yes"
check_out '^phase done 100% dry run: nothing was written' "the dry run's last phase must say nothing was written"
check 'grep -q "\"result\":\"dry-run\",\"dry_run\":true" "$TMP/dry.json"' \
    "the dry run's report must say result dry-run: $(head -c 200 "$TMP/dry.json")"
chosen "dry run"

echo "== real seal"
before=$(sha256sum < "$TMP/real.qcow2")
seal_cli "${OPS[@]}" -a "$TMP/real.qcow2"
cp "$LAST_OUT" "$TMP/real.out"
after=$(sha256sum < "$TMP/real.qcow2")
check '[ "$LAST_RC" -eq 0 ]' "seal failed: $(tail -3 "$LAST_OUT" | tr '\n' ' ')"
check '[ "$before" != "$after" ]' "the real seal did not write its overlay: nothing to compare the dry run with"
check '! grep -q "dry.run" "$LAST_OUT"' "the real seal must not say dry run"
chosen "real seal"

echo "== the dry run reported what the seal did"
paths "$TMP/dry.out" > "$TMP/dry.paths"
paths "$TMP/real.out" > "$TMP/real.paths"
check '[ "$(grep -c "^removed " "$TMP/real.paths")" -ge 20 ]' \
    "the real seal removed only $(grep -c '^removed ' "$TMP/real.paths") paths: too few to compare"
check '[ "$(grep -c "^changed " "$TMP/real.paths")" -ge 1 ]' "the real seal changed nothing: too little to compare"
if cmp -s "$TMP/dry.paths" "$TMP/real.paths"; then
    pass
else
    fail "the dry run's removals and changes differ from the seal's (< dry run, > seal):"
    diff "$TMP/dry.paths" "$TMP/real.paths" | grep '^[<>]' | head -20 | sed 's/^/    /'
fi
dry_sum=$(grep '^summary' "$TMP/dry.out" | sed 's/ dry_run=yes$//')
check '[ "$dry_sum" = "$(grep "^summary" "$TMP/real.out")" ]' \
    "summaries differ: dry run '$dry_sum', seal '$(grep '^summary' "$TMP/real.out")'"

echo "== killed by name, a hung appliance goes with it"
# pkill -f matches the seal and libguestfs' recovery process (a fork of it
# with the same command line, which otherwise kills qemu when the seal
# dies).  qemu is stopped first, as a hung appliance that would never power
# off by itself: only the wrapper's pdeathsig (SIGKILL, delivered even to a
# stopped process) can end it then.
overlay debian "$TMP/kill.qcow2"
"$WORKER" seal -a "$TMP/kill.qcow2" > "$TMP/kill.out" 2>&1 &
qemu_pid=
for _ in $(seq 1 300); do
    qemu_pid=$(pgrep -f "qemu-system.*$TMP/kill.qcow2" | head -1)
    [ -n "$qemu_pid" ] && break
    sleep 0.1
done
check '[ -n "$qemu_pid" ]' "no qemu for $TMP/kill.qcow2 within 30 s: $(tail -2 "$TMP/kill.out" | tr '\n' ' ')"
if [ -n "$qemu_pid" ]; then
    kill -STOP "$qemu_pid"
    pkill -KILL -f "vmseal-worker seal -a $TMP/kill.qcow2"
    wait
    for _ in $(seq 1 50); do
        kill -0 "$qemu_pid" 2> /dev/null || break
        sleep 0.1
    done
    if kill -0 "$qemu_pid" 2> /dev/null; then
        fail "qemu ($qemu_pid) outlived its seal, killed by name, by 5 s"
        kill -KILL "$qemu_pid"
        kill -CONT "$qemu_pid"
    else
        pass
    fi
fi

check '[ "$(sha256sum < "$GUESTS/debian.qcow2")" = "$pristine" ]' "the pristine debian image changed"
seal_test_finish
