# daemons.sh - the processes of a shell test (sourced by tests/*/test_*.sh).
#
# The test sets DIR (its temporary folder, logs in DIR/NAME.log) and OK=1 once
# it passed; it starts its daemons with daemon_start and calls test_cleanup
# from its EXIT trap.

DAEMON_PIDS=()

# daemon_start NAME COMMAND...: run COMMAND in a session of its own, output
# appended to $DIR/NAME.log.
daemon_start() {
    local name=$1
    shift
    setsid "$@" >> "$DIR/$name.log" 2>&1 < /dev/null &
    DAEMON_PIDS+=($!)
}

# test_cleanup NAME [STOP_COMMAND...]: stop every daemon (TERM to its
# process group, KILL after 10 s), run STOP_COMMAND (e.g. stop the broker),
# then remove $DIR when OK=1, else keep it and print the end of its logs.
test_cleanup() {
    local name=$1 p
    shift
    for p in "${DAEMON_PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
    for p in "${DAEMON_PIDS[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$p" 2>/dev/null
    done
    [ $# -eq 0 ] || "$@" > /dev/null 2>&1
    if [ "${OK:-0}" = 1 ]; then
        rm -rf "$DIR"
    else
        echo "$name: folder kept: $DIR; last log lines:" >&2
        tail -n 20 "$DIR"/*.log >&2 2>/dev/null
    fi
}
