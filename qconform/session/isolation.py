"""Keep one quantizer's crash or hang from taking the run down with it.

Under pytest-xdist (``-n``), a check that exceeds ``--qconform-timeout`` has its stacks dumped and its
worker process ended; xdist reports the item as crashed and starts a new worker. A marker file left
in the run's isolation directory tells the controller that it was a time-out, and a fatal signal
(segfault, abort) leaves the worker's faulthandler output there, so records say what happened.
Without xdist, a time-out interrupts the check with an exception (Python-level hangs only); a
segfault ends the whole run, so isolation needs ``-n``.
"""

from __future__ import annotations

import faulthandler
import hashlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "QCONFORM_ISOLATION_DIR"
TIMEOUT_EXIT = 70


class CheckTimeout(BaseException):
    """Raised inside a check that ran past ``--qconform-timeout`` (in-process mode).

    A BaseException, so that hypothesis stops at once instead of shrinking a hang.
    """


def isolation_dir() -> Path:
    """The run's directory for markers, created by the controller and inherited by xdist workers."""
    if ENV not in os.environ:
        os.environ[ENV] = tempfile.mkdtemp(prefix="qconform-isolation-")
    return Path(os.environ[ENV])


def _slug(nodeid: str) -> str:
    return hashlib.sha1(nodeid.encode()).hexdigest()[:16]


def _marker(nodeid: str) -> Path:
    return isolation_dir() / f"timeout-{_slug(nodeid)}.txt"


def _fatal_log(nodeid: str) -> Path:
    return isolation_dir() / f"fatal-{_slug(nodeid)}.log"


def timeout_message(nodeid: str) -> str | None:
    """The time-out marker a worker left for this check, or None."""
    path = _marker(nodeid)
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else None


def fatal_log(nodeid: str) -> str | None:
    """What faulthandler wrote when a fatal signal ended the worker running this check, or None."""
    path = _fatal_log(nodeid)
    if not path.exists():
        return None
    return path.read_text(encoding="utf-8", errors="replace").strip() or None


@contextmanager
def fatal_signals_logged(nodeid: str) -> Iterator[None]:
    """Point faulthandler at a file named after this check while it runs (xdist workers only)."""
    path = _fatal_log(nodeid)
    with open(path, "w", encoding="utf-8") as handle:
        faulthandler.enable(file=handle, all_threads=True)
        try:
            yield
        finally:
            faulthandler.enable(file=sys.__stderr__, all_threads=True)
    if path.stat().st_size == 0:
        path.unlink()


@contextmanager
def time_limit(nodeid: str, seconds: float | None, hard: bool) -> Iterator[None]:
    """Limit one check to ``seconds``: hard = dump stacks and end the process, else raise CheckTimeout."""
    if not seconds:
        yield
        return
    if hard:

        def expire() -> None:
            marker = _marker(nodeid)
            with open(marker, "w", encoding="utf-8") as handle:
                handle.write(f"{nodeid} ran past the per-check limit of {seconds:g} s; stacks at that moment:\n")
                handle.flush()
                faulthandler.dump_traceback(file=handle, all_threads=True)
            sys.stderr.write(f"\nqconform: {nodeid} timed out after {seconds:g} s; ending this worker\n")
            sys.stderr.flush()
            os._exit(TIMEOUT_EXIT)

        timer = threading.Timer(seconds, expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
        return
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def interrupt(signum, frame):
        raise CheckTimeout(f"timed out after {seconds:g} s (per-check limit --qconform-timeout)")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def explain(record: dict) -> dict:
    """Turn a crashed record into a time-out when its worker left a marker; attach fatal-signal output."""
    if record["outcome"] != "crashed":
        return record
    timed_out = timeout_message(record["nodeid"])
    if timed_out:
        return {**record, "outcome": "timeout", "reason": timed_out.splitlines()[0], "message": timed_out[:4000]}
    log = fatal_log(record["nodeid"])
    if log:
        return {**record, "message": f"{record.get('message') or ''}\n{log[:4000]}".strip()}
    return record
