"""The compatibility rules of docs/protocol.md in the Python client, each
case checked against the C decoders too (tests/proto/test_proto_compat.c
tests the C side on its own) (label unit):

  1. unknown keys are ignored, at every level and whatever their type;
  2. a "v" other than 1 refuses the message (msg_version);
  3. an unknown value of a closed enum refuses the message (msg_bad_value);
  4. an absent optional key takes its documented default.
"""

import unittest

import msgpack

from helpers import c_roundtrip
from vmseal import proto

TPL = "0b6c9c43-5d1e-4a77-9b1f-1a2b3c4d5e6f"
EVT = "7f3e2d1c-0b9a-4876-8543-210fedcba987"
SD = "5d0a4c2e-8f3b-4e1d-9c7a-6b5e4d3c2b1a"
IMG = "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"
VOL = "3b4c5d6e-7f80-4b9c-8d1e-2f3a4b5c6d7e"
NEW = "6e7f8091-a2b3-4cdf-9a4b-5c6d7e8f9012"
REF = {"sd_id": SD, "img_id": IMG, "vol_id": VOL}


def create(**extra):
    m = {"v": 1, "type": "template.create", "template_id": TPL, "name": "t", "seal": True, "disks": [dict(REF)]}
    m.update(extra)
    return m


def event(**extra):
    m = {"v": 1, "type": "event", "event_id": EVT, "template_id": TPL, "worker_id": "producer", "state": "ready",
         "ts_ms": 1, "volumes": [dict(REF, state="present", legality="LEGAL", voltype="SHARED")]}
    m.update(extra)
    return m


def job(kind, args):
    return {"v": 1, "type": "job", "job_id": EVT, "template_id": TPL, "kind": kind, "attempt": 1, "timeout_s": 60,
            "args": args}


class Rules(unittest.TestCase):
    def both_accept(self, msg):
        data = msgpack.packb(msg, use_bin_type=True)
        ok, out = c_roundtrip(data)
        self.assertTrue(ok, "C refused: %s" % out)
        py = proto.decode(data)
        self.assertEqual(proto.decode(out), py, "C and Python read different things")
        return py

    def both_refuse(self, msg, code, why):
        data = msgpack.packb(msg, use_bin_type=True)
        with self.assertRaises(proto.ProtoError) as e:
            proto.decode(data)
        self.assertEqual(e.exception.code, code)
        self.assertIn(why, e.exception.why)
        ok, out = c_roundtrip(data)
        self.assertFalse(ok, "C accepted it")
        self.assertEqual(out.split()[0], code, out)
        self.assertIn(why, out)

    def test_1_unknown_keys_ignored(self):
        disk = dict(REF, colour="blue", new_img_id=NEW, new_vol_id=IMG, x={"y": [1.5, None]})
        m = self.both_accept(create(disks=[disk], priority=7, sysprep={"hostname": "h", "later": True}, z=None))
        self.assertEqual(m["disks"][0], dict(REF, new_img_id=NEW, new_vol_id=IMG))
        self.assertNotIn("priority", m)
        vol = dict(REF, state="present", legality="LEGAL", voltype="SHARED", size=1, tags=["a"])
        m = self.both_accept(event(volumes=[vol], origin=b"\x00bin", error={"code": "c", "message": "m",
                                                                           "permanent": False, "hint": "x"}))
        self.assertNotIn("size", m["volumes"][0])
        self.assertEqual(m["error"], {"code": "c", "message": "m", "permanent": False})
        self.both_accept(job("volume.delete", dict(REF, force=True)))

    def test_2_other_version_refused(self):
        for v in (2, 0, -1, 1000):
            with self.subTest(v=v):
                self.both_refuse(create(v=v), "msg_version", "template.create.v: version %d" % v)
                self.both_refuse(event(v=v), "msg_version", "event.v: version %d" % v)
        self.both_refuse({"v": 2, "type": "template.clone"}, "msg_version", "message.v: version 2")

    def test_3_unknown_enum_refused(self):
        vol = dict(REF, state="present", legality="LEGAL", voltype="SHARED")
        cases = [
            ({"v": 1, "type": "template.pause", "template_id": TPL}, 'message.type: unknown value "template.pause"'),
            (event(state="paused"), 'event.state: unknown value "paused"'),
            (event(volumes=[dict(vol, state="moving")]), 'event.volumes[0].state: unknown value "moving"'),
            (event(volumes=[dict(vol, legality="FAKE")]), 'event.volumes[0].legality: unknown value "FAKE"'),
            (event(volumes=[dict(vol, voltype="BASE")]), 'event.volumes[0].voltype: unknown value "BASE"'),
            (job("volume.resize", {}), 'job.kind: unknown value "volume.resize"'),
            (job("volume.copy", {"sd_id": SD, "src": {"img_id": IMG, "vol_id": VOL}, "dst": REF, "format": "VMDK"}),
             'job.args.format: unknown value "VMDK"'),
        ]
        for msg, why in cases:
            with self.subTest(why=why):
                self.both_refuse(msg, "msg_bad_value", why)

    def test_4_absent_optional_defaults(self):
        m = self.both_accept(create())
        self.assertNotIn("target_sd_id", m)
        self.assertNotIn("sysprep", m)
        m = self.both_accept(create(sysprep={}))
        self.assertEqual(m["sysprep"], {"enable": [], "disable": [], "selinux_relabel": True})
        m = self.both_accept(event(state="creating", volumes=[]))
        self.assertEqual(m["volumes"], [])
        for key in ("progress", "step", "error", "result", "job_id"):
            self.assertNotIn(key, m)

    def test_sysprep_operations(self):
        ops = ["firewall-rules", "defaults", "-tmp-files"]
        m = self.both_accept(create(sysprep={"operations": ops, "disable": ["logfiles"]}))
        self.assertEqual(m["sysprep"]["operations"], ops)
        self.assertNotIn("operations", self.both_accept(create(sysprep={}))["sysprep"])
        self.both_refuse(create(sysprep={"operations": ["defaults", "logfiles"], "disable": ["logfiles"]}),
                         "msg_bad_value", 'template.create.sysprep.disable: "logfiles" is also in operations')
        self.both_refuse(create(sysprep={"operations": ["-Tmp"]}), "msg_bad_value",
                         "template.create.sysprep.operations[0]")
        self.both_accept(create(sysprep={"operations": ["-logfiles"], "disable": ["logfiles"]}))

    def test_engine_fields_checked(self):
        self.both_refuse(create(disks=[dict(REF, new_img_id=NEW)]), "msg_missing_key",
                         "template.create.disks[0].new_vol_id: missing")
        self.both_refuse(create(disks=[dict(REF, new_img_id=NEW, new_vol_id=NEW.upper())]), "bad_uuid",
                         "template.create.disks[0].new_vol_id: not a canonical UUID")
        self.both_refuse(event(volumes=[dict(REF, legality="LEGAL", voltype="LEAF")]), "msg_missing_key",
                         "event.volumes[0].state: missing")


if __name__ == "__main__":
    unittest.main()
