"""A vmseal client for engines: requests, RPC queries and template events
over RabbitMQ (pika's blocking connection; one Client per thread).

    cfg = Config(hosts=["127.0.0.1:5672"], user="engine", password_file="/etc/vmseal/engine.secret")
    with Client(cfg) as c:
        tid = c.submit("rhel9", [{"sd_id": sd, "img_id": img, "vol_id": vol}], seal=True)
        for ev in c.events():          # template events of vmseal.events.engine
            ...

What goes where is docs/protocol.md: requests to the queue vmseal.requests,
queries to vmseal.rpc (answered by direct reply-to), template events from
the durable queue vmseal.events.engine, which keeps them while the engine is
down.
"""

import os
import ssl
import time
import uuid

import pika

from . import proto

REQUESTS_QUEUE = "vmseal.requests"
RPC_QUEUE = "vmseal.rpc"
EVENTS_QUEUE = "vmseal.events.engine"
REPLY_TO = "amq.rabbitmq.reply-to"


class Error(Exception):
    """A request the producer refused, or no answer in time."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message


class Config:
    """The broker settings (docs/protocol.md, "Connecting"): hosts
    "HOST[:PORT]" tried in order (port 5672, 5671 with tls), vhost, user, password or password_file (its first line),
    heartbeat_s, and tls = {"ca", "cert", "key", "verify_peer"} or None."""

    def __init__(self, hosts=("127.0.0.1:5672",), vhost="vmseal", user="engine", password=None,
                 password_file=None, heartbeat_s=30, tls=None, rpc_timeout_s=10.0):
        if password is None and password_file:
            with open(password_file, encoding="utf-8") as f:
                password = f.readline().rstrip("\n")
        if not password:
            raise ValueError("Config: password or password_file is required")
        self.hosts, self.vhost, self.user, self.password = list(hosts), vhost, user, password
        self.heartbeat_s, self.tls, self.rpc_timeout_s = heartbeat_s, tls, rpc_timeout_s

    def parameters(self):
        out = []
        for h in self.hosts:
            host, _, port = h.rpartition(":") if ":" in h else (h, "", "5671" if self.tls else "5672")
            ssl_options = None
            if self.tls:
                ctx = ssl.create_default_context(cafile=self.tls.get("ca"))
                if self.tls.get("cert"):
                    ctx.load_cert_chain(self.tls["cert"], self.tls.get("key"))
                if not self.tls.get("verify_peer", True):
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                ssl_options = pika.SSLOptions(ctx, host)
            out.append(pika.ConnectionParameters(
                host=host, port=int(port), virtual_host=self.vhost,
                credentials=pika.PlainCredentials(self.user, self.password),
                heartbeat=self.heartbeat_s, ssl_options=ssl_options, connection_attempts=1))
        return out


class Client:
    def __init__(self, config):
        self.config = config
        self._conn = pika.BlockingConnection(config.parameters())
        self._ch = self._conn.channel()
        self._ch.confirm_delivery()
        self._replies = {}
        self._ch.basic_consume(REPLY_TO, self._on_reply, auto_ack=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._conn.is_open:
            self._conn.close()

    # ---- requests ------------------------------------------------------------

    def _publish(self, queue, body, message_id, msg_type, **props):
        """Publish to the default exchange, mandatory, and wait for the
        broker's confirm (pika raises UnroutableError / NackError)."""
        self._ch.basic_publish("", queue, body, pika.BasicProperties(
            content_type=proto.CONTENT_TYPE, message_id=message_id, type=msg_type, **props), mandatory=True)

    def submit(self, name, disks, seal=True, template_id=None, target_sd_id=None, sysprep=None):
        """Ask for a template; returns its id.  disks: [{sd_id, img_id,
        vol_id}, ...] (the source VM's leaf volumes), each optionally with
        new_img_id and new_vol_id (the ids of its new volume, chosen by the
        engine).  sysprep: None (the default operations) or a dict as in
        docs/protocol.md: "operations" (virt-sysprep --operations entries,
        in order), "enable" (ONLY these operations), "disable" (removed
        last), "hostname", "selinux_relabel", "allow_missing".  Safe to
        repeat with the same template_id: the producer treats an identical
        request as a duplicate."""
        template_id = template_id or str(uuid.uuid4())
        msg = {"type": "template.create", "template_id": template_id, "name": name, "disks": disks,
               "target_sd_id": target_sd_id, "seal": seal, "sysprep": sysprep}
        self._publish(REQUESTS_QUEUE, proto.encode(msg), template_id, "template.create", delivery_mode=2)
        return template_id

    def cancel(self, template_id):
        """Ask to roll a template back (it ends CANCELLED); a no-op once it
        is finished."""
        body = proto.encode({"type": "template.cancel", "template_id": template_id})
        self._publish(REQUESTS_QUEUE, body, template_id, "template.cancel", delivery_mode=2)

    # ---- RPC ---------------------------------------------------------------------

    def _on_reply(self, _ch, _method, props, body):
        self._replies[props.correlation_id] = body

    def _call(self, request):
        corr = str(uuid.uuid4())
        body = proto.encode(dict(request, type="rpc.request"))
        self._publish(RPC_QUEUE, body, corr, "rpc.request", correlation_id=corr, reply_to=REPLY_TO,
                      delivery_mode=1)
        deadline = time.monotonic() + self.config.rpc_timeout_s
        while corr not in self._replies:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Error("timeout", "the producer is not answering")
            self._conn.process_data_events(time_limit=min(left, 0.5))
        reply = proto.decode(self._replies.pop(corr), "rpc.reply")
        if not reply["ok"]:
            raise Error(reply["error"]["code"], reply["error"]["message"])
        return reply

    def status(self, template_id):
        """The template: state, step, error, disks (source and target), jobs,
        leftovers.  Error("not_found", ...) for an unknown id."""
        return self._call({"method": "status", "template_id": template_id})["template"]

    def list(self, state=None, limit=None):
        """Template summaries, newest first (state: a template state filter)."""
        return self._call({"method": "list", "state": state, "limit": limit})["templates"]

    def workers(self):
        """The last heartbeat of each live worker."""
        return self._call({"method": "workers"})["workers"]

    # ---- events ----------------------------------------------------------------

    def events(self, timeout_s=None, on_invalid=None):
        """Iterate over the template events of vmseal.events.engine, oldest
        first.  An event is acknowledged once the loop body that got it is
        done: when the loop asks for the next one or breaks out.  One the
        engine did not finish (it crashed, or the connection closed first)
        is delivered again, so handle events idempotently (by event_id).  A
        message this version refuses is dead-lettered (rejected without
        requeue) and passed to on_invalid(body, ProtoError) if given.
        timeout_s: stop after that long without an event (None: wait for
        ever)."""
        self._ch.basic_qos(prefetch_count=16)
        tag = None
        try:
            for method, _props, body in self._ch.consume(EVENTS_QUEUE, inactivity_timeout=timeout_s):
                if method is None:
                    return
                try:
                    ev = proto.decode(body, "event")
                except proto.ProtoError as e:
                    self._ch.basic_nack(method.delivery_tag, requeue=False)
                    if on_invalid:
                        on_invalid(body, e)
                    continue
                tag = method.delivery_tag
                yield ev
                self._ch.basic_ack(tag)
                tag = None
        except GeneratorExit:   # the loop broke out after handling the event
            if tag is not None and self._conn.is_open:
                self._ch.basic_ack(tag)
            raise
        finally:
            if self._conn.is_open:
                self._ch.cancel()


def config_from_env(prefix="VMSEAL_ENGINE_"):
    """A Config from VMSEAL_ENGINE_HOSTS (comma-separated), _VHOST, _USER,
    _PASSWORD_FILE (for scripts and the example)."""
    env = os.environ
    return Config(hosts=env.get(prefix + "HOSTS", "127.0.0.1:5672").split(","),
                  vhost=env.get(prefix + "VHOST", "vmseal"), user=env.get(prefix + "USER", "engine"),
                  password_file=env.get(prefix + "PASSWORD_FILE"))
