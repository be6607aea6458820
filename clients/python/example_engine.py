#!/usr/bin/python3
"""example_engine.py - what an engine does with vmseal, end to end.

It lists the live workers, asks for a sealed template from the given source
volumes with the ids of the new volumes chosen here (as oVirt's engine
allocates its own), follows the template's events on the engine's durable
queue vmseal.events.engine until it is READY, and registers it from the READY
event alone: each volume's domain, image, volume, legality and type.  Last,
the producer's RPC status of the template must agree.

    example_engine.py --hosts 127.0.0.1:5672 --password-file /etc/vmseal/engine.secret \\
        --disk SD_ID:IMG_ID:VOL_ID [--disk ...]

Exit status 0 when the template is READY and registered; 1 otherwise.
tests/quickstart/test_quickstart.sh runs it against the quickstart's system.
"""

import argparse
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmseal  # noqa: E402  (the package beside this file)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", default="127.0.0.1:5672", help="HOST:PORT[,HOST:PORT...]")
    p.add_argument("--vhost", default="vmseal")
    p.add_argument("--user", default="engine")
    p.add_argument("--password-file", required=True)
    p.add_argument("--disk", action="append", required=True, metavar="SD_ID:IMG_ID:VOL_ID",
                   help="a source VM's leaf volume (repeat for several disks)")
    p.add_argument("--name", default="engine-example")
    p.add_argument("--timeout-s", type=float, default=900, help="give up after this long without an event")
    return p.parse_args()


def register(ev, disks):
    """What an engine would write into its own database; False when the
    event does not describe the volumes it asked for."""
    vols = ev.get("volumes", [])
    if len(vols) != len(disks):
        print("READY event lists %d volumes for %d disks" % (len(vols), len(disks)))
        return False
    for d, v in zip(disks, vols):
        if (v["img_id"], v["vol_id"]) != (d["new_img_id"], d["new_vol_id"]) or \
                (v["state"], v["legality"], v["voltype"]) != ("present", "LEGAL", "SHARED"):
            print("unexpected volume in the READY event: %s" % v)
            return False
        print("registered volume sd %s image %s volume %s %s %s" %
              (v["sd_id"], v["img_id"], v["vol_id"], v["legality"], v["voltype"]))
    return True


def follow(client, tid, disks, timeout_s):
    for ev in client.events(timeout_s=timeout_s):
        if ev["template_id"] != tid:
            continue   # another template's event: a real engine would handle it too
        err = ev.get("error")
        print("template %s %s step=%s%s" % (tid, ev["state"].upper(), ev.get("step", "-"),
                                          " error=%s: %s" % (err["code"], err["message"]) if err else ""))
        if ev["state"] == "ready":
            return register(ev, disks)
        if ev["state"] in ("failed", "cancelled"):
            return False
    print("no event for %.0f s" % timeout_s)
    return False


def main():
    a = parse_args()
    cfg = vmseal.Config(hosts=a.hosts.split(","), vhost=a.vhost, user=a.user, password_file=a.password_file)
    disks = []
    for spec in a.disk:
        sd, img, vol = spec.split(":")
        disks.append({"sd_id": sd, "img_id": img, "vol_id": vol,
                      "new_img_id": str(uuid.uuid4()), "new_vol_id": str(uuid.uuid4())})
    with vmseal.Client(cfg) as client:
        for w in client.workers():
            print("worker %s on %s: pools %s, %d slots, %d running" %
                  (w["worker_id"], w["host"], ",".join(w["pools"]), w["slots"], len(w["running"])))
        tid = client.submit(a.name, disks, seal=True)
        print("submitted template %s (%d disks, seal)" % (tid, len(disks)))
        if not follow(client, tid, disks, a.timeout_s):
            return 1
        status = client.status(tid)
        if status["state"] != "ready" or [d["target"]["vol_id"] for d in status["disks"]] != \
                [d["new_vol_id"] for d in disks]:
            print("the RPC status disagrees: %s" % status)
            return 1
        print("template %s READY and registered" % tid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
