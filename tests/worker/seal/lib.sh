# lib.sh - shared helpers of the seal tests (sourced, bash).
#
# A test sources this file, calls seal_test_init, then uses:
#   overlay NAME OUT.qcow2        qcow2 overlay over the pristine guest NAME
#   seal_cli ARGS…                run `vmseal-worker seal ARGS…`, output in $LAST_OUT
#   trees_extract DIR NAME=IMG…   one appliance: every IMG mounted read-only and
#                                 its whole tree copied (through libguestfs'
#                                 tar-out) into DIR/NAME/
#   manifest DIR                  "path<TAB>type mode uid:gid sha1|target" lines
#   check_* …                     assertions; each failure says what differs
#   seal_test_finish              prints the summary, exit status = failures
#
# Images and reference trees come from tests/guests/build.sh (the ctest
# fixture `guests_build`), in $VMSEAL_BUILD_DIR/guests.

set -uo pipefail

FAILS=0
CHECKS=0

seal_test_init() {
    : "${VMSEAL_BUILD_DIR:?VMSEAL_BUILD_DIR is not set: run through ctest (label guestfs)}"
    : "${VMSEAL_SOURCE_DIR:?VMSEAL_SOURCE_DIR is not set: run through ctest}"
    export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
    GUESTS=$VMSEAL_BUILD_DIR/guests
    WORKER=$VMSEAL_BUILD_DIR/bin/vmseal-worker
    if [ ! -f "$GUESTS/stamp" ]; then
        echo "FATAL: no test guests in $GUESTS: the fixture test guests_build must run first" >&2
        exit 1
    fi
    if [ ! -x "$WORKER" ]; then
        echo "FATAL: $WORKER not built" >&2
        exit 1
    fi
    TMP=$(mktemp -d "$VMSEAL_BUILD_DIR/seal-test.XXXXXX")
    trap 'rm -rf "$TMP"' EXIT
}

# overlay NAME OUT - a writable qcow2 over the read-only pristine image.
overlay() {
    qemu-img create -q -f qcow2 -b "$GUESTS/$1.qcow2" -F qcow2 "$2"
}

# seal_cli ARGS… - runs the CLI; stdout+stderr in $LAST_OUT, status in $LAST_RC.
seal_cli() {
    LAST_OUT=$TMP/seal.$RANDOM.out
    local t0 t1
    t0=$(date +%s%N)
    "$WORKER" seal "$@" >"$LAST_OUT" 2>&1
    LAST_RC=$?
    t1=$(date +%s%N)
    echo "  [$(( (t1 - t0) / 1000000 )) ms] vmseal-worker seal $* -> exit $LAST_RC"
}

# trees_extract DIR NAME=IMG… - one appliance, every image added read-only.
# Each image must hold a filesystem on the whole disk (as build.sh makes them).
trees_extract() {
    local dir=$1; shift
    local script=$TMP/extract.$RANDOM.fish args=() names=() i=0 spec
    for spec in "$@"; do
        names+=("${spec%%=*}")
        args+=(-a "${spec#*=}")
    done
    echo run > "$script"
    local letters=abcdefghijklmnopqrstuvwxyz
    for i in "${!names[@]}"; do
        mkdir -p "$dir/${names[$i]}"
        cat >> "$script" <<EOF
mount-ro /dev/sd${letters:$i:1} /
tar-out / $dir/${names[$i]}.tar numericowner:true
umount /
EOF
    done
    if ! guestfish --ro --format=qcow2 "${args[@]}" -f "$script" > "$TMP/extract.log" 2>&1; then
        echo "FATAL: extracting trees failed:" >&2
        cat "$TMP/extract.log" >&2
        exit 1
    fi
    for i in "${!names[@]}"; do
        tar -C "$dir/${names[$i]}" --numeric-owner -xpf "$dir/${names[$i]}.tar"
        rm -f "$dir/${names[$i]}.tar"
    done
}

# manifest DIR - every path below DIR (lost+found excluded), sorted:
#   /path<TAB>type mode uid:gid content
# content = sha1 of a regular file, target of a symlink, "-" otherwise.
manifest() {
    local d=$1
    ( cd "$d" && find . -name lost+found -prune -o -printf '%p\t%y %m %U:%G\t%l\n' ) |
    while IFS=$'\t' read -r p meta target; do
        p=${p#.}; [ -n "$p" ] || p=/
        case $meta in
            f*) set -- $(sha1sum < "$d$p"); echo "$p	$meta $1" ;;
            l*) echo "$p	$meta $target" ;;
            *)  echo "$p	$meta -" ;;
        esac
    done | LC_ALL=C sort
}

# ---------------------------------------------------------------- asserts
fail() { FAILS=$((FAILS + 1)); echo "FAIL: $*"; }
pass() { CHECKS=$((CHECKS + 1)); }

# check TEST MESSAGE - generic assertion on a shell condition.
check() {
    if eval "$1"; then pass; else fail "$2"; fi
}

# check_gone TREE LABEL PATH… - the paths do not exist (not even as dangling links).
check_gone() {
    local t=$1 label=$2; shift 2
    local p
    for p in "$@"; do
        if [ -e "$t$p" ] || [ -L "$t$p" ]; then
            fail "$label: $p should be removed but exists"
        else
            pass
        fi
    done
}

# check_exists TREE LABEL PATH…
check_exists() {
    local t=$1 label=$2; shift 2
    local p
    for p in "$@"; do
        if [ -e "$t$p" ] || [ -L "$t$p" ]; then pass; else fail "$label: $p should exist but is missing"; fi
    done
}

# check_same TREE REF LABEL PATH… - byte-identical content, same type, mode and owner.
check_same() {
    local t=$1 ref=$2 label=$3; shift 3
    local p a b
    for p in "$@"; do
        if [ ! -e "$ref$p" ] && [ ! -L "$ref$p" ]; then
            fail "$label: test bug: $p is not in the pristine tree"; continue
        fi
        if [ ! -e "$t$p" ] && [ ! -L "$t$p" ]; then
            fail "$label: $p must stay but was removed"; continue
        fi
        a=$(stat -c '%F %a %u:%g' "$ref$p"); b=$(stat -c '%F %a %u:%g' "$t$p")
        if [ "$a" != "$b" ]; then
            fail "$label: $p must stay unchanged: was '$a', now '$b'"
        elif [ -f "$ref$p" ] && ! cmp -s "$ref$p" "$t$p"; then
            fail "$label: $p must stay byte-identical; diff pristine sealed:"
            diff "$ref$p" "$t$p" | sed 's/^/    /' | head -20
        else
            pass
        fi
    done
}

# check_content TREE LABEL PATH TEXT - the file holds exactly TEXT (plus a newline if given).
check_content() {
    local t=$1 label=$2 p=$3 want=$4 got
    if [ ! -f "$t$p" ]; then fail "$label: $p should be a file holding '$want' but is missing"; return; fi
    got=$(cat "$t$p")
    if [ "$got" = "$want" ]; then pass; else fail "$label: $p holds '$got', expected '$want'"; fi
}

# check_empty TREE LABEL PATH - exists, is a regular file, size 0.
check_empty() {
    local t=$1 label=$2 p=$3
    if [ ! -f "$t$p" ] || [ -L "$t$p" ]; then
        fail "$label: $p should exist as an empty regular file but is missing or not a file"
    elif [ -s "$t$p" ]; then
        fail "$label: $p should be empty but holds: $(head -c 80 "$t$p")"
    else
        pass
    fi
}

# check_no_line TREE LABEL PATH REGEX - no line matches (the file must exist).
check_no_line() {
    local t=$1 label=$2 p=$3 re=$4
    if [ ! -f "$t$p" ]; then fail "$label: $p should be edited, not removed"; return; fi
    if grep -Eq -- "$re" "$t$p"; then
        fail "$label: $p still has a line matching /$re/: $(grep -E -- "$re" "$t$p" | head -3 | tr '\n' '|')"
    else
        pass
    fi
}

# check_line TREE LABEL PATH REGEX - some line matches.
check_line() {
    local t=$1 label=$2 p=$3 re=$4
    if [ -f "$t$p" ] && grep -Eq -- "$re" "$t$p"; then pass; else fail "$label: $p has no line matching /$re/"; fi
}

# check_out REGEX MESSAGE - the last seal_cli output matches (case-insensitive).
check_out() {
    if grep -Eiq -- "$1" "$LAST_OUT"; then pass; else
        fail "$2; output was:"; sed 's/^/    /' "$LAST_OUT" | tail -15
    fi
}

# parity_check LABEL PRISTINE VSYSPREP VMSEAL - trees of the same guest:
# every path virt-sysprep removed must be gone in the vmseal tree, every path
# it changed (content, type, mode, owner, link target) must be changed or
# gone there too.  Exceptions (documented): /etc/machine-id, which
# virt-sysprep refills with a random id and vmseal leaves empty (checked
# elsewhere); paths that exist only after virt-sysprep (its customize step
# creates them) are listed, not compared.
parity_check() {
    local label=$1 p=$2 v=$3 s=$4 out
    manifest "$p" > "$TMP/parity.p"
    manifest "$v" > "$TMP/parity.v"
    manifest "$s" > "$TMP/parity.s"
    out=$(awk -F'\t' -v label="$label" '
        FILENAME == ARGV[1] { P[$1] = $2; next }
        FILENAME == ARGV[2] { V[$1] = $2; next }
        { S[$1] = $2 }
        END {
            for (path in P) {
                if (path == "/etc/machine-id") continue
                if (!(path in V)) {
                    vrm++
                    if (path in S) { printf "MISS %s: virt-sysprep removes %s, vmseal keeps it (%s)\n", label, path, S[path]; bad++ }
                    else if (!(path in S)) same_rm++
                } else if (V[path] != P[path]) {
                    vch++
                    if ((path in S) && S[path] == P[path]) {
                        printf "MISS %s: virt-sysprep changes %s (%s -> %s), vmseal leaves it unchanged\n", label, path, P[path], V[path]; bad++
                    }
                }
                if ((path in S) && !(path in V)) continue
                if (!(path in S) && (path in V)) { printf "MORE %s: vmseal also removes %s\n", label, path }
                else if ((path in S) && (path in V) && S[path] != P[path] && V[path] == P[path]) printf "MORE %s: vmseal also changes %s\n", label, path
            }
            for (path in V) if (!(path in P)) printf "NEW  %s: virt-sysprep creates %s\n", label, path
            for (path in S) if (!(path in P)) printf "NEW  %s: vmseal creates %s\n", label, path
            printf "SUM  %s: virt-sysprep removed %d and changed %d paths; vmseal missed %d\n", label, vrm, vch, bad + 0
        }' "$TMP/parity.p" "$TMP/parity.v" "$TMP/parity.s" | LC_ALL=C sort)
    local misses
    misses=$(printf '%s\n' "$out" | grep -c '^MISS')
    printf '%s\n' "$out" | grep -v '^MISS' | sed 's/^/  /'
    printf '%s\n' "$out" | grep '^MISS' | sed 's/^MISS /FAIL: parity /'
    FAILS=$((FAILS + misses))
    [ "$misses" -ne 0 ] || pass
}

seal_test_finish() {
    echo "$CHECKS checks passed, $FAILS failed"
    [ "$FAILS" -eq 0 ]
}
