"""Silence for the noisy parts of a run: transformers' logs and progress bars while tiny models are written
and loaded, and what third-party packages print while they are imported (kept, not lost: see ``captured``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No progress bars or info logs from transformers while writing."""
    from transformers.utils import logging

    level, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


@contextlib.contextmanager
def captured(into: list[str]) -> Iterator[None]:
    """Everything written to the process's stdout and stderr (file descriptors 1 and 2, so C extensions and
    logging handlers too) goes into ``into`` as lines instead of the terminal: packages that print banners
    and warnings when imported would otherwise repeat them in every xdist worker."""
    import os
    import sys
    import tempfile

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            into.extend(line for line in sink.read().decode("utf-8", "replace").splitlines() if line.strip())


@contextlib.contextmanager
def importing(into: list[str]) -> Iterator[None]:
    """``captured`` for imports of torch, transformers and backends, less one warning known to be noise: backends
    import torch._inductor, whose mkldnn module warns once per process that torch.jit.script_method is deprecated."""
    import warnings

    with captured(into), warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="`torch.jit.script_method` is deprecated", category=DeprecationWarning
        )
        yield
