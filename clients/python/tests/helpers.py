"""Shared by the client's tests: paths, and the C codecs as a filter
(build/bin/proto_roundtrip, built with the tree; ctest sets VMSEAL_BUILD_DIR
and VMSEAL_SOURCE_DIR)."""

import binascii
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("VMSEAL_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "clients", "python"))

GOLDEN_DIR = os.path.join(SOURCE_DIR, "tests", "proto", "golden")


def golden_vectors():
    """[(name, bytes)] of tests/proto/golden/*.hex."""
    out = []
    for path in sorted(glob.glob(os.path.join(GOLDEN_DIR, "*.hex"))):
        with open(path, encoding="ascii") as f:
            out.append((os.path.basename(path)[:-4], binascii.unhexlify("".join(f.read().split()))))
    if not out:
        raise RuntimeError("no golden vectors in " + GOLDEN_DIR)
    return out


def c_roundtrip(data):
    """(True, re-encoded bytes) or (False, "<code> <why>") from the C codecs."""
    build = os.environ.get("VMSEAL_BUILD_DIR")
    if not build:
        raise RuntimeError("VMSEAL_BUILD_DIR is not set: run through ctest (it needs build/bin/proto_roundtrip)")
    p = subprocess.run([os.path.join(build, "bin", "proto_roundtrip")], input=data, capture_output=True,
                       check=False)
    if p.returncode == 0:
        return True, p.stdout
    if p.returncode == 2:
        return False, p.stdout.decode("utf-8", "replace").strip()
    raise RuntimeError("proto_roundtrip failed: %r" % p.stderr)
