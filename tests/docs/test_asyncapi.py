"""docs/asyncapi.yaml against the C codecs of proto/ (label unit).

The C codecs are driven through build/bin/proto_roundtrip (decode by type,
encode again).  The document must describe exactly what they read:

  * its message types are the types the codecs read (proto_roundtrip --types);
  * every example validates against its schema, and the C codecs read it and
    write it back unchanged: every documented field is read and kept;
  * the examples of a message use every field its schema documents;
  * the golden vectors (tests/proto/golden, written by the C encoders)
    validate against the schemas, which list every key they hold;
  * nothing else: at every level of every example, each key name the C
    sources know is tried with a float value (no field takes one): when the
    C decoder refuses it there, the document must list that key there.
Unknown keys fail the strict validation used here (the document says what
senders write; receivers ignore unknown keys).
"""

import binascii
import copy
import glob
import os
import re
import struct
import subprocess
import sys
import unittest

import msgpack
import yaml

SOURCE_DIR = os.environ.get("VMSEAL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("VMSEAL_BUILD_DIR")
DOC = os.path.join(SOURCE_DIR, "docs", "asyncapi.yaml")
FREE = "free-form"   # a map whose keys are data (additionalProperties is a schema)


def c_tool():
    if not BUILD_DIR:
        raise RuntimeError("VMSEAL_BUILD_DIR is not set: run through ctest")
    return os.path.join(BUILD_DIR, "bin", "proto_roundtrip")


def c_roundtrip_many(bodies):
    """[(ok, bytes_or_reason)] for each msgpack body, in one process."""
    data = b"".join(struct.pack(">I", len(b)) + b for b in bodies)
    p = subprocess.run([c_tool(), "--stream"], input=data, capture_output=True, check=True)
    out, pos = [], 0
    for _ in bodies:
        status, n = p.stdout[pos], struct.unpack(">I", p.stdout[pos + 1:pos + 5])[0]
        payload = p.stdout[pos + 5:pos + 5 + n]
        pos += 5 + n
        out.append((status == 0, payload if status == 0 else payload.decode("utf-8", "replace")))
    return out


class Doc:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.root = yaml.safe_load(f)

    def ref(self, ref):
        if not ref.startswith("#/"):
            raise AssertionError("only local references: " + ref)
        node = self.root
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def resolve(self, node):
        while isinstance(node, dict) and "$ref" in node:
            extra = {k: v for k, v in node.items() if k != "$ref"}
            node = dict(self.ref(node["$ref"]), **extra)
        return node

    def messages(self):
        return {k: self.resolve(v) for k, v in self.root["components"]["messages"].items()}

    # ---- strict validation ----------------------------------------------------

    def errors(self, schema, v, path="$"):
        s = self.resolve(schema)
        if "anyOf" in s:
            branches = [b for b in s["anyOf"] if not self.errors(b, v, path)]
            return [] if branches else ["%s: matches no anyOf branch" % path]
        t = s.get("type")
        checks = {"object": lambda x: isinstance(x, dict), "array": lambda x: isinstance(x, list),
                  "string": lambda x: isinstance(x, str), "boolean": lambda x: isinstance(x, bool),
                  "integer": lambda x: isinstance(x, int) and not isinstance(x, bool)}
        if t and not checks[t](v):
            return ["%s: not %s: %r" % (path, t, v)]
        errs = []
        if "const" in s and v != s["const"]:
            errs.append("%s: %r is not %r" % (path, v, s["const"]))
        if "enum" in s and v not in s["enum"]:
            errs.append("%s: %r not in %s" % (path, v, s["enum"]))
        if isinstance(v, int) and not isinstance(v, bool):
            if v < s.get("minimum", v) or v > s.get("maximum", v):
                errs.append("%s: %d out of range" % (path, v))
        if isinstance(v, str):
            n = len(v.encode("utf-8"))
            if n < s.get("minLength", 0) or n > s.get("maxLength", n):
                errs.append("%s: length %d" % (path, n))
            if "pattern" in s and not re.search(s["pattern"], v):
                errs.append("%s: %r does not match %s" % (path, v, s["pattern"]))
        if isinstance(v, list):
            if len(v) < s.get("minItems", 0) or len(v) > s.get("maxItems", len(v)):
                errs.append("%s: %d items" % (path, len(v)))
            for i, x in enumerate(v):
                errs += self.errors(s.get("items", {}), x, "%s[%d]" % (path, i))
        if isinstance(v, dict):
            props = s.get("properties", {})
            extra = s.get("additionalProperties")
            errs += ["%s.%s: missing" % (path, k) for k in s.get("required", []) if k not in v]
            if len(v) > s.get("maxProperties", len(v)):
                errs.append("%s: too many keys" % path)
            for k, x in v.items():
                if k in props:
                    errs += self.errors(props[k], x, path + "." + k)
                elif isinstance(extra, dict):
                    errs += self.errors(extra, x, path + "." + k)
                else:
                    errs.append("%s.%s: not in the document" % (path, k))
        return errs

    # ---- what a schema documents, what a value uses ------------------------------

    def paths(self, schema, prefix=()):
        s = self.resolve(schema)
        out = set()
        for b in s.get("anyOf", []):
            out |= self.paths(b, prefix)
        if "items" in s:
            out |= self.paths(s["items"], prefix + ("[]",))
        for k, sub in s.get("properties", {}).items():
            out.add(prefix + (k,))
            out |= self.paths(sub, prefix + (k,))
        return out

    def matching(self, schema, v):
        """The schema v validates against (the anyOf branch that fits)."""
        s = self.resolve(schema)
        for b in s.get("anyOf", []):
            if not self.errors(b, v):
                return self.matching(b, v)
        return s

    def levels(self, schema, v, at=()):
        """(location, property names) of every map in v that has fixed keys."""
        s = self.matching(schema, v)
        if isinstance(v, dict):
            if isinstance(s.get("additionalProperties"), dict):
                return []
            out = [(at, set(s.get("properties", {})))]
            for k, x in v.items():
                out += self.levels(s.get("properties", {}).get(k, {}), x, at + (k,))
            return out
        if isinstance(v, list):
            return [lv for i, x in enumerate(v) for lv in self.levels(s.get("items", {}), x, at + (i,))]
        return []


def used_paths(v, prefix=()):
    out = set()
    if isinstance(v, dict):
        for k, x in v.items():
            out.add(prefix + (k,))
            out |= used_paths(x, prefix + (k,))
    elif isinstance(v, list):
        for x in v:
            out |= used_paths(x, prefix + ("[]",))
    return out


def c_key_names():
    names = set()
    for path in glob.glob(os.path.join(SOURCE_DIR, "proto", "*.c")):
        with open(path, encoding="utf-8") as f:
            names |= set(re.findall(r'"([a-z][a-z0-9_]*)"', f.read()))
    return names


class AsyncApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = Doc(DOC)
        cls.msgs = cls.doc.messages()

    def examples(self):
        for name, m in self.msgs.items():
            for ex in m.get("examples", []):
                yield name, m, ex

    def test_document_structure(self):
        root = self.doc.root
        self.assertEqual(root["asyncapi"], "3.0.0")

        def refs(node):
            if isinstance(node, dict):
                for k, v in node.items():
                    if k == "$ref":
                        yield v
                    else:
                        yield from refs(v)
            elif isinstance(node, list):
                for v in node:
                    yield from refs(v)
        for r in refs(root):
            self.doc.ref(r)   # raises when dangling
        for name, op in root["operations"].items():
            channel = op["channel"]["$ref"]
            for m in op.get("messages", []):
                self.assertTrue(m["$ref"].startswith(channel + "/messages/"), "%s: %s" % (name, m["$ref"]))
        for name, m in self.msgs.items():
            self.assertTrue(m.get("examples"), "message %s has no example" % name)

    def test_types_are_the_c_types(self):
        doc_types = {self.doc.resolve(m["payload"])["properties"]["type"]["const"] for m in self.msgs.values()}
        out = subprocess.run([c_tool(), "--types"], capture_output=True, text=True, check=True).stdout
        self.assertEqual(doc_types, set(out.split()))
        for m in self.msgs.values():
            self.assertEqual(m["name"], self.doc.resolve(m["payload"])["properties"]["type"]["const"])

    def test_examples_valid_and_read_back_by_c(self):
        exs = list(self.examples())
        results = c_roundtrip_many([msgpack.packb(ex["payload"], use_bin_type=True) for _, _, ex in exs])
        for (name, m, ex), (ok, out) in zip(exs, results):
            with self.subTest(message=name, example=ex["name"]):
                self.assertEqual(self.doc.errors(m["payload"], ex["payload"]), [])
                self.assertTrue(ok, "C refused it: %s" % out)
                self.assertEqual(msgpack.unpackb(out, raw=False), ex["payload"], "C did not keep every field")

    def test_examples_use_every_documented_field(self):
        for name, m in self.msgs.items():
            used = set()
            for ex in m["examples"]:
                used |= used_paths(ex["payload"])
            missing = self.doc.paths(m["payload"]) - used
            self.assertEqual(missing, set(), "%s: documented fields no example uses" % name)

    def test_golden_vectors_are_documented(self):
        by_type = {m["name"]: m for m in self.msgs.values()}
        vectors = sorted(glob.glob(os.path.join(SOURCE_DIR, "tests", "proto", "golden", "*.hex")))
        self.assertTrue(vectors)
        for path in vectors:
            with open(path, encoding="ascii") as f:
                v = msgpack.unpackb(binascii.unhexlify("".join(f.read().split())), raw=False)
            with self.subTest(vector=os.path.basename(path)):
                self.assertEqual(self.doc.errors(by_type[v["type"]]["payload"], v), [])

    def test_nothing_else_is_read(self):
        names = c_key_names() | {k for m in self.msgs.values() for p in self.doc.paths(m["payload"]) for k in p}
        names.discard("type")
        cases = []
        for name, m, ex in self.examples():
            for at, documented in self.doc.levels(m["payload"], ex["payload"]):
                node = ex["payload"]
                for step in at:
                    node = node[step]
                for key in sorted(names - set(node)):
                    probe = copy.deepcopy(ex["payload"])
                    target = probe
                    for step in at:
                        target = target[step]
                    target[key] = 1.5
                    cases.append((name, ex["name"], at, key, key in documented, probe))
        results = c_roundtrip_many([msgpack.packb(c[-1], use_bin_type=True) for c in cases])
        undocumented = []
        for (name, ex_name, at, key, documented, _), (ok, out) in zip(cases, results):
            if not ok and not documented:
                self.assertIn(key, out)
                undocumented.append("%s (%s) at %s: C reads %r: %s" % (name, ex_name, list(at), key, out))
        self.assertEqual(undocumented, [])
        print("%d probes" % len(cases), file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
