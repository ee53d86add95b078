"""Where qconform keeps what it may reuse between runs (tiny checkpoints, hypothesis' files, release
environments): ``$QCONFORM_CACHE``, else ``~/.cache/qconform``. Light on purpose: read before torch is imported."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    return Path(os.environ.get("QCONFORM_CACHE") or Path.home() / ".cache" / "qconform")
