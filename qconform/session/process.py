"""What a process that runs checks does around discovery: fork snapshots, freeze what it imported, share cores.

These only apply to a process started for this run (torch not yet imported when qconform configures): a
test suite that runs pytest in-process (pytester) keeps its own garbage collector and gets no forks.
"""

from __future__ import annotations

import gc
import sys

import pytest


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """An xdist controller: it runs no check, only gathers the workers' reports."""
    return not is_worker(config) and bool(getattr(config.option, "numprocesses", None))


def before_imports(config: pytest.Config) -> tuple[bool, list[str]]:
    """Fork the hidden-package snapshots (``qconform.support.fork_server``) as torch, then transformers' dispatch,
    are imported; returns whether this process is the run's own, and what those imports printed."""
    owned, printed = "torch" not in sys.modules, []
    if not owned or is_controller(config):
        return owned, printed
    from qconform.support import fork_server
    from qconform.support.quiet import importing

    if fork_server.start_ledger() is not None:
        with importing(printed):
            fork_server.snapshot_after("torch")
            fork_server.snapshot_after("transformers.quantizers.auto")
        config.add_cleanup(fork_server.stop_all)
    return owned, printed


def after_discovery(config: pytest.Config, owned: bool) -> None:
    """torch, transformers and the backends are millions of long-lived objects: frozen (``gc.freeze``), no
    collection walks them again, during the checks or at exit (1.5 s of the 6 s import floor is that walk at
    exit; one method's run went from 15.8 s to 12.5 s). An xdist worker takes its share of the cores."""
    if owned:
        gc.freeze()
        config.add_cleanup(gc.freeze)  # at unconfigure: what the checks left is not walked at exit either
    if is_worker(config):
        from qconform.session.threads import share_cpus

        share_cpus(int(config.workerinput.get("workercount", 1)))
