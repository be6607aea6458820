#!/bin/bash
# test_seal_cli.sh - `vmseal-worker seal`'s command line, virt-sysprep's
# habits (ctest seal_cli, label unit): no appliance is started.
#
#   --list-operations   virt-sysprep's format ("name * description", a space
#                       for an operation off by default), the same default
#                       mark as virt-sysprep for every operation both have;
#   --version           vmseal's version (as `vmseal-worker --version`) and
#                       libguestfs' (as guestfish's);
#   -a / IMAGE / --format
#                       order kept, --format for the images after it, auto =
#                       the image's header; a --format after the last image,
#                       or one we cannot open, is refused;
#   -n, -x, -v          -n adds every drive read-only (libguestfs' trace of
#                       add_drive), -x traces, -v prints libguestfs' debug;
#   errors              each names the option and the problem, exit 2.
# The images given last do not exist: the engine stops at adding them,
# before any launch.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

: "${VMSEAL_BUILD_DIR:?VMSEAL_BUILD_DIR is not set: run through ctest}"
WORKER=$VMSEAL_BUILD_DIR/bin/vmseal-worker
[ -x "$WORKER" ] || { echo "FATAL: $WORKER not built" >&2; exit 1; }
TMP=$(mktemp -d "$VMSEAL_BUILD_DIR/seal-cli-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
MISSING=$TMP/no-such-image.qcow2

# usage_error LABEL MESSAGE ARGS… - exit 2, the exact message on stderr, nothing started.
usage_error() {
    local label=$1 want=$2; shift 2
    seal_cli "$@"
    check '[ "$LAST_RC" -eq 2 ]' "$label: exit status $LAST_RC, want 2"
    check 'grep -qxF -- "vmseal-worker seal: $want" "$LAST_OUT"' \
        "$label: want the line 'vmseal-worker seal: $want'; output: $(head -3 "$LAST_OUT" | tr '\n' '|')"
    check '! grep -q "^image \|^phase " "$LAST_OUT"' "$label: it went on after the usage error"
}

# ---------------------------------------------------------------- --list-operations
echo "== --list-operations"
seal_cli --list-operations
check '[ "$LAST_RC" -eq 0 ]' "--list-operations: exit $LAST_RC"
cp "$LAST_OUT" "$TMP/ours"
check '[ "$(wc -l < "$TMP/ours")" -ge 40 ]' "--list-operations: only $(wc -l < "$TMP/ours") lines"
bad=$(grep -Ev '^[a-z0-9-]+ [* ] [^ ].*$' "$TMP/ours" | head -3)
check '[ -z "$bad" ]' "--list-operations: lines not in virt-sysprep's 'name * description' format: $bad"
check 'grep -qx "ssh-hostkeys \* Remove the SSH host keys" "$TMP/ours"' \
    "--list-operations: no 'ssh-hostkeys * Remove the SSH host keys' line"
check 'grep -qx "firewall-rules   Remove custom firewall rules" "$TMP/ours"' \
    "--list-operations: an operation off by default must read 'firewall-rules   Remove ...' (three spaces)"
# The same default mark as virt-sysprep for every operation both have.
if virt-sysprep --list-operations > "$TMP/theirs" 2>/dev/null; then
    both=0
    while read -r name mark; do
        theirs=$(awk -v n="$name" '$1 == n { print ($2 == "*") ? "*" : "-" }' "$TMP/theirs")
        [ -n "$theirs" ] || continue
        both=$((both + 1))
        check '[ "$mark" = "$theirs" ]' "--list-operations: $name is '$mark' here, '$theirs' in virt-sysprep"
    done < <(awk '{ print $1, ($2 == "*") ? "*" : "-" }' "$TMP/ours")
    check '[ "$both" -ge 30 ]' "--list-operations: only $both operations in common with virt-sysprep"
else
    fail "virt-sysprep --list-operations does not run (guestfs-tools is a test dependency)"
fi

# ---------------------------------------------------------------- --version
echo "== --version"
for opt in --version -V; do
    seal_cli "$opt"
    check '[ "$LAST_RC" -eq 0 ]' "$opt: exit $LAST_RC"
    want=$("$WORKER" --version | awk '{ print $2 }')
    check '[ "$(sed -n 1p "$LAST_OUT")" = "vmseal-worker seal $want" ]' \
        "$opt: first line '$(sed -n 1p "$LAST_OUT")', want 'vmseal-worker seal $want'"
    lg=$(guestfish --version | awk '{ print $2 }')
    check '[ "$(sed -n 2p "$LAST_OUT")" = "libguestfs $lg" ]' \
        "$opt: second line '$(sed -n 2p "$LAST_OUT")', want 'libguestfs $lg'"
done

# ---------------------------------------------------------------- images and formats
echo "== -a, plain IMAGE arguments and --format"
qemu-img create -q -f qcow2 "$TMP/a.qcow2" 16M
qemu-img create -q -f qcow2 "$TMP/c.qcow2" 16M
qemu-img create -q -f qcow2 "$TMP/d.qcow2" 16M
truncate -s 16M "$TMP/b.raw"
seal_cli "$TMP/a.qcow2" --format raw -a "$TMP/b.raw" "$TMP/c.qcow2" --format auto --add "$TMP/d.qcow2" -a "$MISSING"
grep '^image ' "$LAST_OUT" > "$TMP/images"
printf 'image %s\n' "qcow2 $TMP/a.qcow2" "raw $TMP/b.raw" "raw $TMP/c.qcow2" "qcow2 $TMP/d.qcow2" \
    "raw $MISSING" > "$TMP/images.want"
check 'cmp -s "$TMP/images" "$TMP/images.want"' \
    "images or formats not in command-line order: $(tr '\n' '|' < "$TMP/images"), want $(tr '\n' '|' < "$TMP/images.want")"
check '[ "$LAST_RC" -eq 1 ]' "a missing image: exit $LAST_RC, want 1"
check_out "no-such-image.qcow2: No such file" "a missing image must be named"
check '! grep -q "^phase inspect" "$LAST_OUT"' "a missing image: the appliance must not be used"
usage_error "--format after the last image" \
    "--format raw is not followed by an image: it applies to the images after it" "$TMP/a.qcow2" --format raw
usage_error "--format vmdk" "--format: 'vmdk' is not supported (qcow2, raw or auto)" --format vmdk -a "$TMP/a.qcow2"
usage_error "no image" "no image given (-a IMAGE)" --hostname h

echo "== -n, -x, -v"
seal_cli -n -x -a "$TMP/a.qcow2" -a "$MISSING"
check_out "^libguestfs: trace: add_drive \"$TMP/a.qcow2\" \"readonly:true\"" \
    "-n -x: the drive must be added read-only (traced)"
check_out '^dry-run: ' "-n: the output must say it is a dry run"
check '! grep -q "readonly:false" "$LAST_OUT"' "-n: a drive was added writable"
seal_cli -x -a "$TMP/a.qcow2" -a "$MISSING"
check_out "^libguestfs: trace: add_drive \"$TMP/a.qcow2\" \"readonly:false\"" "-x: a seal adds the drive writable"
check '! grep -q "^dry-run" "$LAST_OUT"' "without -n the output must not say dry run"
seal_cli -a "$TMP/a.qcow2" -a "$MISSING"
check '! grep -q "^libguestfs:" "$LAST_OUT"' "without -v/-x libguestfs must be quiet: $(grep -m1 '^libguestfs:' "$LAST_OUT")"
seal_cli -v -a "$TMP/a.qcow2" -a "$MISSING"
check_out '^libguestfs: ' "-v: no libguestfs debug message"
check '! grep -q "^libguestfs: trace:" "$LAST_OUT"' "-v alone must not trace"

# ---------------------------------------------------------------- the choice of operations
echo "== operation options"
usage_error "--operations unknown" "--operations: unknown sysprep operation 'foo'" --operations foo -a "$MISSING"
usage_error "--ops alias" "--operations: unknown sysprep operation '-tmp-file' (did you mean 'tmp-files'?)" \
    --ops defaults --ops -tmp-file -a "$MISSING"
usage_error "--operation alias" "--operations: empty operation name" --operation defaults, -a "$MISSING"
usage_error "--enable twice" \
    "--enable may be given once, before any --operations (as virt-sysprep); use --operations to add more" \
    --enable utmp --enable tmp-files -a "$MISSING"
usage_error "--enable after --operations" \
    "--enable may be given once, before any --operations (as virt-sysprep); use --operations to add more" \
    --operations defaults --enable utmp -a "$MISSING"
usage_error "--enable meta-name" \
    "--enable: unknown sysprep operation 'defaults' (\"-OP\", \"defaults\" and \"all\" belong in --operations)" \
    --enable defaults -a "$MISSING"
usage_error "--enable empty" "--enable: empty argument" --enable '' -a "$MISSING"
usage_error "--disable unknown" "--disable: unknown sysprep operation 'logfile' (did you mean 'logfiles'?)" \
    --disable logfile -a "$MISSING"
usage_error "--disable and --enable" "--disable: 'utmp' is also in --enable" --enable utmp --disable utmp -a "$MISSING"
usage_error "--disable and --operations" "--disable: 'utmp' is also in --operations" \
    --operations defaults,utmp --disable utmp -a "$MISSING"
# A valid choice goes on to the images (and stops at the missing one).
seal_cli --enable ssh-hostkeys --operations all,-defaults,tmp-files --disable kerberos-data -a "$MISSING"
check '[ "$LAST_RC" -eq 1 ]' "a valid choice: exit $LAST_RC, want 1 (the missing image)"
check_out "^image raw $MISSING" "a valid choice must go on to the images"

seal_cli --help
check '[ "$LAST_RC" -eq 0 ]' "--help: exit $LAST_RC"
check_out '--operations OPS' "--help must describe --operations"
check_out '-n, --dry-run' "--help must describe --dry-run"

seal_test_finish
