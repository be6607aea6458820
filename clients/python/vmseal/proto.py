"""The vmseal wire format, version 1 (docs/protocol.md), in Python.

Every message is a msgpack map with string keys carrying "v": 1 and "type".
decode() checks a message the way the C decoders of proto/ do and returns a
plain dict of the keys this version knows (unknown keys are dropped, absent
optional keys with a documented default get it); encode() writes the keys in
the order the C encoders use, so both produce the same bytes (the golden
vectors in tests/proto/golden/ pin them).

The compatibility rules (docs/protocol.md, "Compatibility"):
  * unknown keys are ignored, at any depth and of any type;
  * a "v" other than 1 refuses the message (code msg_version);
  * an unknown value of a closed enum refuses the message (msg_bad_value).
Errors are ProtoError with the C code name and a reason naming the key path,
e.g. "template.create.disks[0].new_vol_id: missing".
"""

import re

import msgpack

VERSION = 1
MAX_BYTES = 1024 * 1024
MAX_DEPTH = 16
CONTENT_TYPE = "application/msgpack"

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HOSTNAME_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$")
CS_OP = "abcdefghijklmnopqrstuvwxyz0123456789-"
CS_POOL = "abcdefghijklmnopqrstuvwxyz0123456789_-"
CS_ERR_CODE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
CS_HOSTNAME = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-"
INT64_MAX = 2**63 - 1
# str_escape()'s form (common/util.h): no control character, C1 control or
# lone backslash; a backslash only as \xHH (lowercase hex).
ESCAPED_RE = re.compile(r"^(?:[^\\\x00-\x1f\x7f-\x9f]|\\x[0-9a-f]{2})*$")
FILES_BYTES_MAX = 128 * 1024

JOB_KINDS = ("volume.copy", "volume.update", "volume.delete", "vm.seal")
JOB_STATES = ("running", "progress", "succeeded", "failed", "cancelled")
TEMPLATE_STATES = ("creating", "rolling_back", "ready", "failed", "cancelled")
EVENT_STATES = JOB_STATES + ("creating", "rolling_back", "ready")
LEGALITY = ("LEGAL", "ILLEGAL")
VOLTYPE = ("LEAF", "SHARED", "INTERNAL")
FORMAT = ("RAW", "COW")
VOLUME_STATES = ("copying", "present", "deleted", "leftover")
RPC_METHODS = ("status", "list", "workers")


class ProtoError(ValueError):
    """A message this version refuses; code is the C error name."""

    def __init__(self, code, why):
        super().__init__(why)
        self.code = code
        self.why = why


# ---- field specs --------------------------------------------------------------
# A spec is a small tuple: ("uuid",) ("text", min, max, charset) ("int", min,
# max) ("bool",) ("enum", values) ("map", fields) ("array", item, min, max)
# ("kv",) (result: string keys to str/int/bool) ("args",) (a job's args, by
# kind).  charset: None any UTF-8, "text" no control characters, "escaped"
# a guest name in str_escape()'s form, else the allowed characters.  A field is (key, spec, required, default); a default
# other than None is filled in by decode() and always written by encode().

def F(key, spec, required=True, default=None):
    return (key, spec, required, default)


UUID = ("uuid",)
BOOL = ("bool",)
TIME = ("int", 0, INT64_MAX)


def TEXT(max_len, min_len=0, cs="text"):
    return ("text", min_len, max_len, cs)


def ENUM(*values):
    return ("enum", values)


def ARRAY(item, min_n=0, max_n=64):
    return ("array", item, min_n, max_n)


def MAP(*fields):
    return ("map", fields)


VOL_REF = [F("sd_id", UUID), F("img_id", UUID), F("vol_id", UUID)]
DISKS = ARRAY(MAP(*VOL_REF), 1, 64)
SYSPREP = MAP(
    F("enable", ARRAY(TEXT(64, 1, CS_OP), 0, 64), False, []),
    F("disable", ARRAY(TEXT(64, 1, CS_OP), 0, 64), False, []),
    F("hostname", ("hostname",), False),
    F("selinux_relabel", BOOL, False, True),
    F("allow_missing", ARRAY(TEXT(1024, 1), 0, 32), False),
    # virt-sysprep --operations entries: "OP", "-OP", "defaults", "all", "-defaults", "-all"
    F("operations", ARRAY(TEXT(65, 1, CS_OP), 0, 64), False),
)
COUNT = ("int", 0, 2**31 - 1)
# What a seal did (proto.h struct proto_files): counts per operation, the
# paths within the bounds, truncated when some are only counted.
FILES = MAP(
    F("ops", ARRAY(MAP(F("name", TEXT(64, 1, CS_OP)), F("removed", COUNT), F("changed", COUNT)), 0, 64)),
    F("paths", ARRAY(MAP(F("op", TEXT(64, 1, CS_OP)), F("action", ENUM("removed", "changed")),
                         F("mountpoint", TEXT(1024, 1, "escaped")), F("path", TEXT(4096, 1, "escaped"))), 0, 1000)),
    F("truncated", BOOL),
)
ERROR = MAP(F("code", TEXT(64, 1, CS_ERR_CODE)), F("message", TEXT(4096, 0, None)), F("permanent", BOOL))
HEARTBEAT = [
    F("worker_id", TEXT(255, 1)),
    F("host", ("hostname",)),
    F("version", TEXT(64, 1)),
    F("libguestfs_version", TEXT(64, 0)),
    F("pools", ARRAY(TEXT(64, 1, CS_POOL), 1, 16)),
    F("sd_ids", ARRAY(UUID, 0, 64)),
    F("slots", ("int", 0, 1024)),
    F("running", ARRAY(UUID, 0, 1024)),
    F("ts_ms", TIME),
]

ARGS = {
    "volume.copy": [
        F("sd_id", UUID),
        F("src", MAP(F("img_id", UUID), F("vol_id", UUID))),
        F("dst", MAP(*VOL_REF)),
        F("format", ENUM(*FORMAT)),
    ],
    "volume.update": VOL_REF + [
        F("generation", ("int", 0, 999)),
        F("legality", ENUM(*LEGALITY), False),
        F("voltype", ENUM(*VOLTYPE), False),
        F("description", TEXT(210), False),
    ],
    "volume.delete": VOL_REF,
    "vm.seal": [F("disks", DISKS), F("sysprep", SYSPREP, False, {})],
}

RPC_ERROR = MAP(F("code", TEXT(64, 1, CS_ERR_CODE)), F("message", TEXT(4096)))
TEMPLATE_STATUS = MAP(
    F("id", UUID), F("name", TEXT(255)), F("state", TEXT(32)), F("step", TEXT(32)), F("seal", BOOL),
    F("created_ms", TIME), F("updated_ms", TIME),
    F("error", MAP(F("step", TEXT(255)), F("code", TEXT(64, 1, CS_ERR_CODE)), F("message", TEXT(4096))), False),
    F("disks", ARRAY(MAP(
        F("index", ("int", 0, 64)), F("source", MAP(*VOL_REF)), F("target", MAP(*VOL_REF)), F("state", TEXT(32)),
        F("legality", ENUM(*LEGALITY)), F("voltype", ENUM(*VOLTYPE)), F("generation", ("int", 0, 999))),
        0, 100000)),
    F("jobs", ARRAY(MAP(
        F("job_id", UUID), F("kind", ENUM(*JOB_KINDS)), F("step", TEXT(32)), F("disk", ("int", -1, 64)),
        F("attempt", ("int", 1, 1000000)), F("state", TEXT(32)), F("created_ms", TIME), F("started_ms", TIME),
        F("finished_ms", TIME), F("progress", ("int", 0, 100)), F("worker_id", TEXT(255, 1), False),
        F("error", RPC_ERROR, False), F("files", FILES, False)),
        0, 100000)),
    F("leftovers", ARRAY(MAP(*VOL_REF), 0, 100000)),
)

# type -> fields after "v" and "type", in the order the encoders write them
MESSAGES = {
    "template.create": [
        F("template_id", UUID),
        F("name", TEXT(255, 1)),
        F("disks", ARRAY(MAP(*VOL_REF, F("new_img_id", UUID, False), F("new_vol_id", UUID, False)), 1, 64)),
        F("target_sd_id", UUID, False),
        F("seal", BOOL),
        F("sysprep", SYSPREP, False),
    ],
    "template.cancel": [F("template_id", UUID)],
    "job": [
        F("job_id", UUID), F("template_id", UUID), F("kind", ENUM(*JOB_KINDS)),
        F("attempt", ("int", 1, 1000000)), F("timeout_s", ("int", 1, 7 * 86400)), F("args", ("args",)),
    ],
    "event": [
        F("event_id", UUID),
        F("job_id", UUID, False),
        F("template_id", UUID),
        F("worker_id", TEXT(255, 1)),
        F("state", ENUM(*EVENT_STATES)),
        F("progress", ("int", 0, 100), False),
        F("step", TEXT(255), False),
        F("error", ERROR, False),
        F("result", ("kv",), False),
        F("volumes", ARRAY(MAP(*VOL_REF, F("state", ENUM(*VOLUME_STATES)), F("legality", ENUM(*LEGALITY)),
                                F("voltype", ENUM(*VOLTYPE))), 0, 64), False),
        F("files", FILES, False),
        F("ts_ms", TIME),
    ],
    "worker.heartbeat": HEARTBEAT,
    "job.cancel": [F("job_id", UUID), F("template_id", UUID)],
    "rpc.request": [
        F("method", ENUM(*RPC_METHODS)),
        F("template_id", UUID, False),
        F("state", TEXT(32, 1), False),
        F("limit", ("int", 1, 10000), False),
    ],
    "rpc.reply": [
        F("method", ENUM(*RPC_METHODS)),
        F("ok", BOOL),
        F("error", RPC_ERROR, False),
        F("template", TEMPLATE_STATUS, False),
        F("templates", ARRAY(MAP(F("id", UUID), F("name", TEXT(255)), F("state", TEXT(32)), F("step", TEXT(32)),
                                 F("updated_ms", TIME)), 0, 100000), False),
        F("workers", ARRAY(MAP(*HEARTBEAT, F("received_ms", TIME)), 0, 100000), False),
    ],
}

# ---- decoding -----------------------------------------------------------------


def _type_name(v):
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "integer"
    return {float: "float", str: "string", bytes: "binary", list: "array", dict: "map"}.get(type(v), "ext")


def _bad_type(path, want, v):
    raise ProtoError("msg_bad_type", "%s: expected %s, got %s" % (path, want, _type_name(v)))


def _bad(path, fmt, *args):
    raise ProtoError("msg_bad_value", path + ": " + (fmt % args if args else fmt))


def _text(path, v, min_len, max_len, cs):
    if not isinstance(v, str):
        _bad_type(path, "a string", v)
    try:
        raw = v.encode("utf-8")
    except UnicodeEncodeError:
        _bad(path, "not valid UTF-8")
    if "\0" in v:
        _bad(path, "contains a NUL byte")
    if not min_len <= len(raw) <= max_len:
        _bad(path, "%d bytes, must be %d..%d", len(raw), min_len, max_len)
    if cs in ("text", "escaped"):
        if any(ord(c) < 0x20 or ord(c) == 0x7f for c in v):
            _bad(path, "control character")
        if cs == "escaped" and not ESCAPED_RE.match(v):
            _bad(path, "not in the escaped form (C1 controls, '\\' and bytes outside UTF-8 as \\xHH)")
    elif cs is not None:
        bad = [c for c in v if c not in cs]
        if bad:
            _bad(path, "invalid character %r", bad[0])
    return v


def _value(path, spec, v, ctx):
    kind = spec[0]
    if kind == "uuid":
        if not isinstance(v, str):
            _bad_type(path, "a string", v)
        if not UUID_RE.match(v):
            raise ProtoError("bad_uuid", path + ": not a canonical UUID")
        return v
    if kind == "text":
        return _text(path, v, spec[1], spec[2], spec[3])
    if kind == "hostname":
        _text(path, v, 1, 253, CS_HOSTNAME)
        if not HOSTNAME_RE.match(v):
            _bad(path, "not a valid RFC 1123 host name")
        return v
    if kind == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            _bad_type(path, "an integer", v)
        if not spec[1] <= v <= spec[2]:
            _bad(path, "%d out of range, must be %d..%d", v, spec[1], spec[2])
        return v
    if kind == "bool":
        if not isinstance(v, bool):
            _bad_type(path, "a bool", v)
        return v
    if kind == "enum":
        if not isinstance(v, str):
            _bad_type(path, "a string", v)
        if v not in spec[1]:
            _bad(path, 'unknown value "%s"', v)
        return v
    if kind == "map":
        if not isinstance(v, dict):
            _bad_type(path, "a map", v)
        return _fields(path, spec[1], v, ctx)
    if kind == "array":
        if not isinstance(v, list):
            _bad_type(path, "an array", v)
        if not spec[2] <= len(v) <= spec[3]:
            _bad(path, "%d items, must be %d..%d", len(v), spec[2], spec[3])
        return [_value("%s[%d]" % (path, i), spec[1], x, ctx) for i, x in enumerate(v)]
    if kind == "kv":
        if not isinstance(v, dict):
            _bad_type(path, "a map", v)
        if len(v) > 64:
            _bad(path, "%d entries, at most 64 allowed", len(v))
        for k, x in v.items():
            _text(path + ".<key>", k, 1, 64, "text")
            if isinstance(x, str):
                _text(path + "." + k, x, 0, 4096, None)
            elif not isinstance(x, (int, bool)) or (not isinstance(x, bool) and x > INT64_MAX):
                _bad_type(path + "." + k, "a string, integer or bool", x)
        return dict(v)
    if kind == "args":
        if not isinstance(v, dict):
            _bad_type(path, "a map", v)
        return _fields(path, ARGS[ctx["kind"]], v, ctx)
    raise AssertionError(kind)


def _fields(path, fields, m, ctx):
    out = {}
    for key, spec, required, default in fields:
        if key not in m:
            if required:
                raise ProtoError("msg_missing_key", "%s.%s: missing" % (path, key))
            if default is not None:
                out[key] = _value(path + "." + key, spec, default, ctx)
            continue
        out[key] = _value(path + "." + key, spec, m[key], ctx)
        if key == "kind":
            ctx["kind"] = out[key]
    _check(path, out, m)
    return out


def _check(path, out, m):
    """Rules across keys, as the C decoders apply them."""
    if ("new_img_id" in m) != ("new_vol_id" in m):
        missing = "new_vol_id" if "new_img_id" in m else "new_img_id"
        raise ProtoError("msg_missing_key", "%s.%s: missing: give both new ids or neither" % (path, missing))
    if "disable" in out and ("enable" in out or "operations" in out):
        added = [x for x in out.get("operations", []) if not x.startswith("-") and x not in ("defaults", "all")]
        for x in out["disable"]:
            if x in out.get("enable", []):
                _bad(path + ".disable", '"%s" is also in enable', x)
            if x in added:
                _bad(path + ".disable", '"%s" is also in operations', x)
    if path == "job.args" and "generation" in out and not {"legality", "voltype", "description"} & set(out):
        raise ProtoError("msg_missing_key", path + ": nothing to update (legality, voltype or description)")
    if path == "event" and out.get("job_id") and out["state"] not in JOB_STATES:
        _bad(path + ".state", '"%s" is a template state, not valid for a job event', out["state"])
    if {"ops", "paths", "truncated"} <= set(out):
        _check_files(path, out)


def _check_files(path, f):
    """A seal's files: each operation once, every path's operation listed,
    the bytes bound, no more paths than counted, truncated exactly when fewer."""
    names = [o["name"] for o in f["ops"]]
    for i, n in enumerate(names):
        if n in names[:i]:
            _bad(path + ".ops", '"%s" is listed twice', n)
    listed, size = {}, 0
    for i, p in enumerate(f["paths"]):
        if p["op"] not in names:
            _bad(path + ".paths", '"%s" of path %d is not in %s.ops', p["op"], i, path)
        listed[p["op"], p["action"]] = listed.get((p["op"], p["action"]), 0) + 1
        size += len(p["mountpoint"].encode("utf-8")) + len(p["path"].encode("utf-8"))
    if size > FILES_BYTES_MAX:
        _bad(path + ".paths", "%d bytes of mount points and paths, at most %d allowed", size, FILES_BYTES_MAX)
    fewer = False
    for o in f["ops"]:
        r, c = listed.get((o["name"], "removed"), 0), listed.get((o["name"], "changed"), 0)
        if r > o["removed"] or c > o["changed"]:
            _bad(path + ".paths", 'more paths of "%s" than its counts', o["name"])
        fewer = fewer or r < o["removed"] or c < o["changed"]
    if fewer != f["truncated"]:
        _bad(path + ".truncated", "%s, but the paths listed are %s the counts",
             "true" if f["truncated"] else "false", "fewer than" if fewer else "all of")


def _pairs(pairs):
    """object_pairs_hook: string keys only, no duplicates (as the C walk)."""
    out = {}
    for i, (k, v) in enumerate(pairs):
        if not isinstance(k, str):
            raise ProtoError("invalid", "map key #%d is not a string (%s)" % (i + 1, _type_name(k)))
        if k in out:
            raise ProtoError("invalid", "%s: duplicate key" % k)
        out[k] = v
    return out


def _depth(v, d=1):
    if d > MAX_DEPTH:
        raise ProtoError("msg_too_deep", "message: nested deeper than %d" % MAX_DEPTH)
    children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else ()
    for c in children:
        _depth(c, d + 1)


def unpack(data):
    """The raw map of a message (walk checks only: size, depth, keys)."""
    if len(data) > MAX_BYTES:
        raise ProtoError("msg_too_big", "message: %d bytes, at most %d" % (len(data), MAX_BYTES))
    try:
        root = msgpack.unpackb(data, raw=False, object_pairs_hook=_pairs, strict_map_key=False,
                               unicode_errors="surrogateescape")
    except msgpack.ExtraData as e:
        raise ProtoError("msg_trailing", "message: %d trailing bytes" % len(e.extra)) from None
    except ProtoError:
        raise
    except (ValueError, msgpack.UnpackException) as e:
        raise ProtoError("msg_truncated", "message: %s" % e) from None
    _depth(root)
    if not isinstance(root, dict):
        _bad_type("message", "a map", root)
    return root


def decode(data, expect=None):
    """Check and decode one message; expect: the type it must have."""
    root = unpack(data)
    t = root.get("type")
    path = t if isinstance(t, str) and t in MESSAGES else "message"
    if "v" not in root:
        raise ProtoError("msg_missing_key", path + ".v: missing")
    v = root["v"]
    if isinstance(v, bool) or not isinstance(v, int):
        _bad_type(path + ".v", "an integer", v)
    if v != VERSION:
        raise ProtoError("msg_version", "%s.v: version %d is not supported (this build reads %d)" % (path, v, VERSION))
    if "type" not in root:
        raise ProtoError("msg_missing_key", "message.type: missing")
    t = _value("message.type", ENUM(*MESSAGES), t, {})
    if expect and t != expect:
        _bad(t + ".type", 'expected "%s", got "%s"', expect, t)
    out = {"v": VERSION, "type": t}
    out.update(_fields(t, MESSAGES[t], _rpc_view(t, root), {}))
    return out


def _rpc_view(t, root):
    """The keys of an RPC message its method reads (the C decoders read
    template_id only for status, state and limit only for list, and one
    answer key of a reply), with the answer key made required."""
    if t not in ("rpc.request", "rpc.reply"):
        return root
    method = _value(t + ".method", ENUM(*RPC_METHODS), root.get("method"), {}) if "method" in root else None
    if method is None:
        raise ProtoError("msg_missing_key", t + ".method: missing")
    if t == "rpc.request":
        keep = {"status": ("template_id",), "list": ("state", "limit"), "workers": ()}[method]
        return {k: v for k, v in root.items() if k in keep + ("method",)}
    if "ok" not in root:
        raise ProtoError("msg_missing_key", t + ".ok: missing")
    ok = _value(t + ".ok", BOOL, root["ok"], {})
    key = "error" if not ok else {"status": "template", "list": "templates", "workers": "workers"}[method]
    if key not in root:
        raise ProtoError("msg_missing_key", "%s.%s: missing" % (t, key))
    return {k: v for k, v in root.items() if k in ("method", "ok", key)}


# ---- encoding -----------------------------------------------------------------


def _ordered(fields, m, ctx):
    out = {}
    for key, spec, _required, default in fields:
        v = m.get(key)
        if v is None:
            if default is None:
                continue
            v = default
        if key == "kind":
            ctx["kind"] = v
        out[key] = _order(spec, v, ctx)
    return out


def _order(spec, v, ctx):
    if spec[0] == "map":
        return _ordered(spec[1], v, ctx)
    if spec[0] == "args":
        return _ordered(ARGS[ctx["kind"]], v, ctx)
    if spec[0] == "array":
        return [_order(spec[1], x, ctx) for x in v]
    return v


def encode(msg):
    """Encode a message dict ("type" and its fields; "v" may be left out).
    Keys are written in the C encoders' order; unknown keys are not written.
    The result is decoded before it is returned: what decode() would refuse
    raises ProtoError here."""
    t = msg["type"]
    if t not in MESSAGES:
        _bad("message.type", 'unknown value "%s"', t)
    body = {"v": VERSION, "type": t}
    body.update(_ordered(MESSAGES[t], msg, {}))
    data = msgpack.packb(body, use_bin_type=True)
    decode(data, t)
    return data
