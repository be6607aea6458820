"""The Python codec against the golden vectors of tests/proto/golden and the
C codecs (label unit)."""

import unittest

import msgpack

from helpers import c_roundtrip, golden_vectors
from vmseal import proto

TPL = "0b6c9c43-5d1e-4a77-9b1f-1a2b3c4d5e6f"
SD = "5d0a4c2e-8f3b-4e1d-9c7a-6b5e4d3c2b1a"
IMG = "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"
VOL = "3b4c5d6e-7f80-4b9c-8d1e-2f3a4b5c6d7e"
REF = {"sd_id": SD, "img_id": IMG, "vol_id": VOL}

# one message of each type the golden vectors do not cover
EXTRA = [
    {"type": "job.cancel", "job_id": VOL, "template_id": TPL},
    {"type": "rpc.request", "method": "status", "template_id": TPL},
    {"type": "rpc.request", "method": "list", "state": "ready", "limit": 5},
    {"type": "rpc.reply", "method": "list", "ok": True,
     "templates": [{"id": TPL, "name": "t", "state": "ready", "step": "done", "updated_ms": 5}]},
    {"type": "rpc.reply", "method": "status", "ok": False, "error": {"code": "not_found", "message": "no such"}},
    {"type": "rpc.reply", "method": "status", "ok": True, "template": {
        "id": TPL, "name": "t", "state": "failed", "step": "done", "seal": True, "created_ms": 1, "updated_ms": 2,
        "error": {"step": "seal", "code": "no_root", "message": "no root"},
        "disks": [{"index": 0, "source": REF, "target": REF, "state": "leftover", "legality": "ILLEGAL",
                   "voltype": "LEAF", "generation": 3}],
        "jobs": [{"job_id": VOL, "kind": "vm.seal", "step": "seal", "disk": -1, "attempt": 1, "state": "failed",
                  "created_ms": 1, "started_ms": 2, "finished_ms": 3, "progress": 40, "worker_id": "w1",
                  "error": {"code": "guestfs", "message": "rm: I/O error"},
                  "files": {"ops": [{"name": "logfiles", "removed": 2, "changed": 0}],
                            "paths": [{"op": "logfiles", "action": "removed", "mountpoint": "/",
                                       "path": "/var/log/a\\x1b[2J"}], "truncated": True}}],
        "leftovers": [REF]}},
    {"type": "rpc.reply", "method": "workers", "ok": True, "workers": [{
        "worker_id": "w1", "host": "h1", "version": "0.1", "libguestfs_version": "1.48.6", "pools": ["default"],
        "sd_ids": [SD], "slots": 2, "running": [], "ts_ms": 7, "received_ms": 8}]},
]


class GoldenVectors(unittest.TestCase):
    def test_decode_and_encode_byte_for_byte(self):
        for name, data in golden_vectors():
            with self.subTest(name=name):
                msg = proto.decode(data)
                self.assertEqual(proto.encode(msg), data)

    def test_engine_vectors(self):
        vectors = dict(golden_vectors())
        create = proto.decode(vectors["template_create_new_ids"], "template.create")
        self.assertEqual(create["disks"][0]["new_img_id"], "6e7f8091-a2b3-4cdf-9a4b-5c6d7e8f9012")
        self.assertNotIn("new_img_id", create["disks"][1])
        ready = proto.decode(vectors["event_template_ready"], "event")
        self.assertEqual(ready["state"], "ready")
        self.assertEqual([v["voltype"] for v in ready["volumes"]], ["SHARED", "SHARED"])


class AgainstC(unittest.TestCase):
    def test_python_encodings_are_what_c_writes(self):
        for msg in EXTRA:
            with self.subTest(msg=msg["type"]):
                data = proto.encode(msg)
                ok, out = c_roundtrip(data)
                self.assertTrue(ok, out)
                self.assertEqual(out, data)

    def test_defaults_written_like_c(self):
        msg = {"type": "job", "job_id": VOL, "template_id": TPL, "kind": "vm.seal", "attempt": 1,
               "timeout_s": 60, "args": {"disks": [REF]}}
        data = proto.encode(msg)
        self.assertEqual(c_roundtrip(data), (True, data))
        self.assertEqual(proto.decode(data)["args"]["sysprep"],
                         {"enable": [], "disable": [], "selinux_relabel": True})

    def test_encode_refuses_what_decode_refuses(self):
        with self.assertRaises(proto.ProtoError) as e:
            proto.encode({"type": "template.cancel", "template_id": TPL.upper()})
        self.assertEqual(e.exception.code, "bad_uuid")

    def test_rpc_keys_by_method(self):
        # read only what the method uses, as the C decoders do
        data = msgpack.packb({"v": 1, "type": "rpc.request", "method": "list", "template_id": 7})
        self.assertEqual(proto.decode(data), {"v": 1, "type": "rpc.request", "method": "list"})
        self.assertTrue(c_roundtrip(data)[0])
        for reply, missing in (({"ok": False}, "error"), ({"ok": True}, "template")):
            data = msgpack.packb(dict({"v": 1, "type": "rpc.reply", "method": "status"}, **reply))
            with self.assertRaises(proto.ProtoError) as e:
                proto.decode(data)
            self.assertEqual(e.exception.code, "msg_missing_key")
            self.assertIn("rpc.reply." + missing, e.exception.why)
            self.assertEqual(c_roundtrip(data)[1].split()[0], "msg_missing_key")

    def test_hostile_input(self):
        cases = [
            (b"\x93\x01\x02\x03", "msg_bad_type"),
            (b"\x82\xa1v\x01", "msg_truncated"),
            (msgpack.packb({"v": 1, "type": "template.cancel", "template_id": TPL}) + b"\x00", "msg_trailing"),
            (msgpack.packb({1: 2}), "invalid"),
            (msgpack.packb([[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]), "msg_too_deep"),
            (b"\xdd\x10\x00\x00\x00", "msg_truncated"),
        ]
        for data, code in cases:
            with self.subTest(data=data[:8]):
                with self.assertRaises(proto.ProtoError) as e:
                    proto.decode(data)
                self.assertEqual(e.exception.code, code)
                self.assertEqual(c_roundtrip(data)[1].split()[0], code)


SEAL_EVENT = {"type": "event", "event_id": VOL, "job_id": VOL, "template_id": TPL, "worker_id": "w1",
              "state": "succeeded", "ts_ms": 1}


def files(paths, removed=1, truncated=False):
    return {"ops": [{"name": "tmp-files", "removed": removed, "changed": 0}],
            "paths": [dict({"op": "tmp-files", "action": "removed", "mountpoint": "/"}, **p) for p in paths],
            "truncated": truncated}


class SealFiles(unittest.TestCase):
    def test_golden_vector(self):
        ev = proto.decode(dict(golden_vectors())["event_job_seal_files"], "event")
        self.assertEqual(ev["files"]["paths"][0]["path"], "/var/tmp/two\\x0alines \\x1b[2J")
        self.assertTrue(ev["files"]["truncated"])

    def test_refused_like_c(self):
        cases = [
            (files([{"path": "/tmp/a\nb"}]), "control character"),
            (files([{"path": "/tmp/a\x9bb"}]), "escaped form"),
            (files([{"path": "C:\\x"}]), "escaped form"),
            (files([{"path": "/a\\x0A"}]), "escaped form"),
            (files([{"path": "/a"}], removed=2), "truncated"),
            (files([{"path": "/a"}], truncated=True), "truncated"),
            (files([{"path": "/a"}, {"path": "/b"}]), "counts"),
            (files([{"path": "/a", "op": "logfiles"}]), "not in"),
            (dict(files([]), ops=[{"name": "a", "removed": 0, "changed": 0}] * 2), "twice"),
            (files([{"path": "/" + "p" * 4000}] * 40, removed=40), "bytes"),
        ]
        for f, why in cases:
            data = msgpack.packb(dict(SEAL_EVENT, v=1, files=f))
            with self.subTest(why=why):
                with self.assertRaises(proto.ProtoError) as e:
                    proto.decode(data)
                self.assertEqual(e.exception.code, "msg_bad_value")
                self.assertIn(why, e.exception.why)
                self.assertEqual(c_roundtrip(data)[1].split()[0], "msg_bad_value")

    def test_accepted_like_c(self):
        f = files([{"path": "/var/tmp/two\\x0alines \\x1b[2J caf\u00e9 \\x5c"}], removed=3, truncated=True)
        data = proto.encode(dict(SEAL_EVENT, files=f))
        self.assertEqual(c_roundtrip(data), (True, data))


if __name__ == "__main__":
    unittest.main()
