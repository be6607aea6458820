"""The client against a running vmseal (started by
tests/clients/test_engine_client.sh: the shipped definitions, a producer, a
dry-run worker).  Environment: VMSEAL_ENGINE_HOSTS, VMSEAL_ENGINE_PASSWORD_FILE,
VMSEAL_TEST_SD_ID / _IMG_ID / _VOL_ID (a source volume), and the broker
administrator VMSEAL_TEST_BROKER_USER / _PASSWORD / _PORT."""

import os
import time
import unittest
import uuid

import pika

import helpers  # noqa: F401  (puts the package on the path)
import vmseal
from vmseal import proto

ENV = os.environ
SOURCE = {"sd_id": ENV.get("VMSEAL_TEST_SD_ID"), "img_id": ENV.get("VMSEAL_TEST_IMG_ID"),
          "vol_id": ENV.get("VMSEAL_TEST_VOL_ID")}


def client():
    return vmseal.Client(vmseal.config_from_env())


def new_disk():
    return dict(SOURCE, new_img_id=str(uuid.uuid4()), new_vol_id=str(uuid.uuid4()))


def follow(c, tid, timeout_s=60):
    """The events of template tid until a final one (others are skipped)."""
    out = []
    for ev in c.events(timeout_s=timeout_s):
        if ev["template_id"] == tid:
            out.append(ev)
            if ev["state"] in ("ready", "failed", "cancelled"):
                break
    return out


def admin_channel():
    params = pika.ConnectionParameters(
        host="127.0.0.1", port=int(ENV["VMSEAL_TEST_BROKER_PORT"]), virtual_host="vmseal",
        credentials=pika.PlainCredentials(ENV["VMSEAL_TEST_BROKER_USER"], ENV["VMSEAL_TEST_BROKER_PASSWORD"]))
    conn = pika.BlockingConnection(params)
    return conn, conn.channel()


class EngineClient(unittest.TestCase):
    def test_engine_ids_to_ready_from_events(self):
        disk = new_disk()
        with client() as c:
            self.assertIn("engine-test-worker", [w["worker_id"] for w in c.workers()])
            tid = c.submit("engine-ids", [disk], seal=True)
            events = follow(c, tid)
            self.assertEqual(events[0]["state"], "creating")
            ready = events[-1]
            self.assertEqual(ready["state"], "ready")
            for ev in events:   # every template event carries the volumes
                self.assertEqual([(v["img_id"], v["vol_id"]) for v in ev["volumes"]],
                                 [(disk["new_img_id"], disk["new_vol_id"])])
            self.assertEqual(ready["volumes"], [{"sd_id": SOURCE["sd_id"], "img_id": disk["new_img_id"],
                                                 "vol_id": disk["new_vol_id"], "state": "present",
                                                 "legality": "LEGAL", "voltype": "SHARED"}])
            st = c.status(tid)
            self.assertEqual((st["state"], st["disks"][0]["target"]["vol_id"]), ("ready", disk["new_vol_id"]))
            self.assertIn(tid, [t["id"] for t in c.list(state="ready")])
            # the same ids again, for another template: refused at intake
            tid2 = c.submit("engine-ids-again", [disk], seal=True)
            failed = follow(c, tid2)[-1]
            self.assertEqual((failed["state"], failed["step"]), ("failed", "intake"))
            self.assertEqual(failed["error"]["code"], "volume_exists")

    def test_events_kept_while_the_engine_is_away(self):
        with client() as c:
            tid = c.submit("while-away", [new_disk()], seal=False)
        with client() as c:   # poll the producer, not the events
            deadline = time.monotonic() + 60
            while c.status(tid)["state"] != "ready":
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.2)
        with client() as c:
            states = [ev["state"] for ev in follow(c, tid)]
        self.assertEqual(states[0], "creating")
        self.assertEqual(states[-1], "ready")

    def test_rpc_errors_and_cancel(self):
        with client() as c:
            with self.assertRaises(vmseal.Error) as e:
                c.status(str(uuid.uuid4()))
            self.assertEqual(e.exception.code, "not_found")
            tid = c.submit("cancel-me", [new_disk()], seal=True)
            c.cancel(tid)
            last = follow(c, tid)[-1]
            # a dry-run template may finish before the cancel arrives
            self.assertIn(last["state"], ("cancelled", "ready"))
            self.assertEqual(c.status(tid)["state"], last["state"])

    def test_invalid_event_dead_lettered(self):
        mid = str(uuid.uuid4())
        conn, ch = admin_channel()
        try:
            body = proto.encode({"type": "event", "event_id": mid, "template_id": mid, "worker_id": "x",
                                 "state": "ready", "ts_ms": 1}).replace(b"\xa5ready", b"\xa5READY")
            ch.basic_publish("vmseal.events", "template.ready", body,
                             pika.BasicProperties(message_id=mid, delivery_mode=2))
            refused = []
            with client() as c:
                for _ev in c.events(timeout_s=2, on_invalid=lambda b, err: refused.append(err)):
                    pass
            self.assertEqual([e.code for e in refused], ["msg_bad_value"])
            found = False
            for method, props, _body in ch.consume("vmseal.dead", inactivity_timeout=2):
                if method is None:
                    break
                ch.basic_ack(method.delivery_tag)
                if props.message_id == mid:
                    found = True
                    break
            ch.cancel()
            self.assertTrue(found, "the refused event is not in vmseal.dead")
        finally:
            conn.close()

    def test_engine_user_least_privilege(self):
        cfg = vmseal.config_from_env()

        def refused(action):
            conn = pika.BlockingConnection(cfg.parameters())
            try:
                with self.assertRaises(pika.exceptions.ChannelClosedByBroker) as e:
                    action(conn.channel())
                self.assertEqual(e.exception.reply_code, 403)
            finally:
                if conn.is_open:
                    conn.close()

        refused(lambda ch: ch.basic_get("vmseal.jobs.default"))
        refused(lambda ch: ch.basic_get("vmseal.events.producer"))
        refused(lambda ch: ch.queue_declare("engine-own-queue"))
        refused(lambda ch: (ch.confirm_delivery(), ch.basic_publish("vmseal.events", "template.ready", b"x")))
        refused(lambda ch: (ch.confirm_delivery(), ch.basic_publish("vmseal.jobs", "storage.x", b"x")))
        conn = pika.BlockingConnection(cfg.parameters())
        try:   # its own queue, as the definitions declare it
            conn.channel().queue_declare("vmseal.events.engine", durable=True, arguments={
                "x-queue-type": "quorum", "x-delivery-limit": 5, "x-dead-letter-exchange": "vmseal.dlx"})
        finally:
            conn.close()


if __name__ == "__main__":
    unittest.main()
