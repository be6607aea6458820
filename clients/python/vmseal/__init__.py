"""vmseal: a client for engines that use vmseal to seal VM templates.

proto   - encode() / decode() of every vmseal message (wire version 1)
client  - Client(config): submit, cancel, status, list, workers, events
See clients/python/README.md and docs/protocol.md.
"""

from .client import Client, Config, Error, config_from_env
from .proto import ProtoError, decode, encode

__all__ = ["Client", "Config", "Error", "ProtoError", "config_from_env", "decode", "encode"]
