"""Hidden-package children forked from a snapshot of this process instead of started from scratch.

A child that hides a package must see the world as a process that never had it: so far each was a
fresh interpreter importing torch and transformers again (6 s on two cores, 57% of a whole CPU run).
A snapshot (a ``ForkServer``) is forked from this process right after it imported torch, or torch and
transformers' dispatch, and forks one child per request. Such a child is as faithful as a fresh one
exactly when nothing before the snapshot asked the import machinery about a hidden name: the
``ImportLedger``, first on ``sys.meta_path`` from before torch is imported, writes down every module
looked for, every distribution asked for by name, and every entry-point group enumerated (all groups, for
``entry_points()`` without one: then only distributions declaring no entry point stay unasked). A request
whose hidden names appear in the snapshot's ledger (transformers asks for accelerate, hqq, torchao
while imported) goes to an earlier snapshot, or to a fresh interpreter. Other limits, each a fallback
to the fresh interpreter: systems other than Linux, builds of torch with CUDA, ROCm or XPU (a driver
initialised before a fork does not work after it), questions asked before the ledger existed (torch
imported before the plugin configured), and any enumeration of all distributions outside
``importlib.metadata.entry_points``.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.metadata
import json
import os
import select
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qconform.support.hiding import hide_packages, normalise_distribution

ALL_DISTRIBUTIONS = "*"  # the ledger's mark for an enumeration of all distributions it cannot attribute
EVERY_GROUP = "entry_points()"  # an entry_points() call without a group (triton's, then .select(group=...))


def _entry_points_group(frame: Any) -> str | None:
    """The group of the ``importlib.metadata.entry_points(group=...)`` call on the stack, if any."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "entry_points" and "importlib" in code.co_filename.replace(os.sep, "/"):
            params = frame.f_locals.get("params") or {}
            group = params.get("group") if isinstance(params, dict) else None
            return group if isinstance(group, str) else EVERY_GROUP
        frame = frame.f_back
    return None


class ImportLedger:
    """A meta path finder that finds nothing and writes down what it was asked."""

    def __init__(self) -> None:
        self.modules: set[str] = set()
        self.distributions: set[str] = set()
        self.groups: set[str] = set()  # entry-point groups whose enumeration read every distribution
        self.preloaded: frozenset[str] = frozenset(sys.modules)  # imported before the ledger saw anything

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        self.modules.add(fullname)
        return None

    def find_distributions(self, context: Any = None) -> Iterable[Any]:
        name = getattr(context, "name", None)
        if name is not None:
            self.distributions.add(normalise_distribution(name))
        else:
            self.groups.add(_entry_points_group(sys._getframe(1)) or ALL_DISTRIBUTIONS)
        return iter(())

    def invalidate_caches(self) -> None:
        return None

    def asked_about(self, modules: Iterable[str], distributions: Iterable[str]) -> list[str]:
        """The hidden names this process already asked about (empty: hiding them now is faithful)."""
        asked = [m for m in modules if any(n == m or n.startswith(m + ".") for n in self.modules | self.preloaded)]
        hidden = {normalise_distribution(d) for d in distributions}
        asked += sorted(hidden & self.distributions)
        for group in sorted(self.groups):
            if group == ALL_DISTRIBUTIONS:
                asked.append("every distribution (an enumeration outside entry_points)")
                continue
            for dist in sorted(hidden):
                try:
                    points = importlib.metadata.distribution(dist).entry_points
                except importlib.metadata.PackageNotFoundError:
                    continue
                if any(group in (p.group, EVERY_GROUP) for p in points):
                    asked.append(f"{dist} (entry point group {group})")
        return asked

    def copy(self) -> ImportLedger:
        twin = ImportLedger.__new__(ImportLedger)
        twin.modules, twin.distributions, twin.groups = set(self.modules), set(self.distributions), set(self.groups)
        twin.preloaded = self.preloaded
        return twin


_LEDGER: ImportLedger | None = None
_SERVERS: list[ForkServer] = []


def start_ledger() -> ImportLedger | None:
    """Put the ledger first on ``sys.meta_path``; None where torch is imported already (its questions unseen)."""
    global _LEDGER
    if _LEDGER is None and "torch" not in sys.modules and sys.platform.startswith("linux"):  # macOS: fork-unsafe
        _LEDGER = ImportLedger()
        sys.meta_path.insert(0, _LEDGER)
    return _LEDGER


def _forkable_torch() -> bool:
    import torch

    return (
        torch.version.cuda is None
        and getattr(torch.version, "hip", None) is None
        and not (hasattr(torch, "xpu") and torch.xpu._is_compiled())
    )


@dataclass
class ForkServer:
    """A process forked at a snapshot; it forks one child per request and answers when the child is done."""

    after: str  # what was imported when the snapshot was taken
    ledger: ImportLedger
    pid: int
    requests: int  # write end, ours
    answers: int  # read end, ours
    lock: threading.Lock = field(default_factory=threading.Lock)  # one job at a time (prefetch runs in a thread)

    def can_hide(self, modules: Sequence[str], distributions: Sequence[str]) -> bool:
        return self.pid > 0 and not self.ledger.asked_about(modules, distributions)

    def call(
        self, function: str, request: Any, modules: Sequence[str], distributions: Sequence[str], timeout: float
    ) -> Any:
        """``function(request)`` in a child of the snapshot that hides ``modules`` and ``distributions``."""
        with tempfile.TemporaryDirectory(prefix="qconform-fork-") as tmp:
            job = {
                "function": function,
                "request": request,
                "modules": sorted(set(modules)),
                "distributions": sorted(set(distributions)),
                "answer": str(Path(tmp) / "answer.json"),
                "log": str(Path(tmp) / "output.log"),
            }
            with self.lock:
                line = memoryview((json.dumps(job) + "\n").encode())
                while line:  # a request of many targets can exceed what one write to a pipe takes
                    line = line[os.write(self.requests, line) :]
                ready, _, _ = select.select([self.answers], [], [], timeout)
                status = os.read(self.answers, 64).decode().strip() if ready else ""
            if not status:
                self.stop()
                raise RuntimeError(f"the {self.after} fork server gave no answer within {timeout} s")
            answer = Path(job["answer"])
            if answer.exists():
                return json.loads(answer.read_text())
            log = Path(job["log"]).read_text(errors="replace") if Path(job["log"]).exists() else ""
            raise RuntimeError(f"the hidden-environment child (fork, {status}) gave no answer:\n{log[-3000:]}")

    def stop(self) -> None:
        for fd in (self.requests, self.answers):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.pid > 0:
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except (OSError, ChildProcessError):
                pass
        self.pid = -1


def snapshot_after(module: str) -> ForkServer | None:
    """Import ``module``, then fork a server from this state (None where a fork would not be faithful)."""
    importlib.import_module(module)
    if _LEDGER is None or not _forkable_torch():
        return None
    request_read, request_write = os.pipe()
    answer_read, answer_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()  # children neither walk nor copy the snapshot's objects in their collections
    pid = os.fork()
    if pid == 0:  # the server: never returns
        try:
            os.close(request_write)
            os.close(answer_read)
            for server in _SERVERS:  # pipes of earlier servers: theirs to close, not ours to hold open
                for fd in (server.requests, server.answers):
                    os.close(fd)
            _serve(request_read, answer_write)
        finally:
            os._exit(0)
    os.close(request_read)
    os.close(answer_write)
    server = ForkServer(module, _LEDGER.copy(), pid, request_write, answer_read)
    _SERVERS.append(server)
    return server


def _serve(requests: int, answers: int) -> None:
    """Read one job per line; fork a child for it; write its exit status back. EOF (the parent gone): stop."""
    pending = b""
    while True:
        chunk = os.read(requests, 1 << 16)
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            job = json.loads(line)
            pid = os.fork()
            if pid == 0:
                os.close(requests)
                os.close(answers)
                _run_job(job)  # exits
            _, status = os.waitpid(pid, 0)
            os.write(answers, f"exit {os.waitstatus_to_exitcode(status)}\n".encode())


def _run_job(job: dict[str, Any]) -> None:
    code = 1
    try:
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        # pytest's capture may have put its own files in sys.stdout/stderr: the child's words go to its log
        sys.stdout = sys.stderr = open(log, "w", buffering=1, closefd=False)  # noqa: SIM115
        from qconform.specs.model import load_object

        hide_packages(job["modules"], job["distributions"])
        answer = load_object(job["function"])(job["request"])
        Path(job["answer"]).write_text(json.dumps(answer))
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def server_for(modules: Sequence[str], distributions: Sequence[str]) -> ForkServer | None:
    """The latest snapshot from which hiding these names is faithful, or None."""
    for server in reversed(_SERVERS):
        if server.can_hide(modules, distributions):
            return server
    return None


def stop_all() -> None:
    while _SERVERS:
        _SERVERS.pop().stop()
