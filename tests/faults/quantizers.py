"""Quantizers that take their process down: a segfault, an abort, a Python hang, a C-level hang.

Each misbehaves in ``to_dict`` (so the config checks reach it) and only when its config's ``fault``
field says so, so that importing this module is harmless.
"""

from __future__ import annotations

import ctypes
import os
import time

from tests.planted.bases import GroupedConfig, config_spec, register


def _fault(kind: str) -> None:
    if kind == "segfault":
        ctypes.string_at(0)
    elif kind == "abort":
        os.abort()
    elif kind == "hang":
        while True:
            time.sleep(0.05)
    elif kind == "hang-in-c":
        ctypes.CDLL(None).sleep(10_000)  # libc sleep: holds no Python frame the interpreter can interrupt


def _config_class(kind: str) -> type:
    key = f"fault-{kind}"

    class FaultyConfig(GroupedConfig):
        KEY = key

        def to_dict(self):
            _fault(kind)
            return super().to_dict()

    FaultyConfig.__name__ = f"Faulty{kind.title().replace('-', '')}Config"
    return FaultyConfig


KINDS = ("segfault", "abort", "hang", "hang-in-c")
CLASSES = {kind: _config_class(kind) for kind in KINDS}
for _kind, _cls in CLASSES.items():
    register(_cls.KEY, _cls)
SPECS = tuple(config_spec(cls.KEY, cls) for cls in CLASSES.values())
