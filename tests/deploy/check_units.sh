#!/bin/bash
# check_units.sh - the shipped systemd units parse and verify cleanly
# (systemd-analyze verify; ExecStart pointed at /bin/true since the binaries
# are not installed here).  Any diagnostic fails the test.
set -euo pipefail
src=${VMSEAL_SOURCE_DIR:?}/deploy/systemd
command -v systemd-analyze >/dev/null || { echo "FAIL: systemd-analyze not installed (apt-get install systemd)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for u in "$src"/*.service; do
    sed 's|^ExecStart=/usr/local/bin/[^ ]*|ExecStart=/bin/true|' "$u" > "$tmp/$(basename "$u")"
done
ln -s "$tmp/vmseal-worker@.service" "$tmp/vmseal-worker@w1.service"
out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$tmp/vmseal-producer.service" "$tmp/vmseal-worker@w1.service" 2>&1) || true
if [ -n "$out" ]; then
    echo "FAIL: systemd-analyze verify:"
    echo "$out"
    exit 1
fi
grep -q '^User=vmseal$' "$src/vmseal-producer.service"
for u in "$src"/*.service; do
    grep -q '^Type=notify$' "$u" || { echo "FAIL: $u: not Type=notify"; exit 1; }
    grep -q '^WatchdogSec=' "$u" || { echo "FAIL: $u: no WatchdogSec"; exit 1; }
done
grep -q '^DeviceAllow=/dev/kvm rw$' "$src/vmseal-worker@.service"
grep -q '^ExecStart=.* --config /etc/vmseal/%i.conf$' "$src/vmseal-worker@.service"
echo "units ok"
