"""Run the suite once per environment of a plan: one run file (and one log) per environment.

Each environment is built (or found in the cache), then ``qconform run`` runs there with the run
file going to ``OUT/<slug>.json`` and pytest's output to ``OUT/matrix/<slug>.log``, so that
``OUT/*.json`` are the run files alone (``qconform report OUT/*.json``). A release the index does not
serve, an environment that does not build, or a suite that leaves no run file is recorded as such in
``OUT/matrix/summary.json`` (schema ``qconform.matrix``) with the reason, and the next environment goes on.
A progress line per environment says what is happening and, at the end, what the suite found.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from qconform.releases.environments import EnvBuildError, ensure, spec_for
from qconform.releases.plan import Environment
from qconform.report.records import summarize
from qconform.report.writer import json_text, write_bytes_atomic

MATRIX_SCHEMA = "qconform.matrix"
MATRIX_VERSION = 1
ASIDE = "matrix"  # the folder beside the run files for the summary and the logs
SUMMARY = "summary.json"
_CHECKED = ("passed", "failed", "xfailed", "skipped", "crashed", "timeout")  # a check of a method was reached
# outcomes in the order a progress line names them
_SHOWN = ("passed", "failed", "error", "crashed", "timeout", "broken", "xfailed", "skipped")


@dataclass
class SuiteOptions:
    """What ``qconform run`` gets in every environment."""

    profile: str | None = "quick"
    workers: str = "1"
    quantizers: Sequence[str] = ()
    plugins: Sequence[str] = ()
    devices: Sequence[str] = ()
    pytest_args: Sequence[str] = ()
    timeout: float = 7200

    def command(self, python: Path, report: Path) -> list[str]:
        command = [str(python), "-m", "qconform.cli", "run", "--report", str(report), "-n", str(self.workers)]
        command += [f"--quantizer={q}" for q in self.quantizers]
        command += [f"--plugin={p}" for p in self.plugins]
        command += [f"--device={d}" for d in self.devices]
        if self.profile:
            command.append(f"--profile={self.profile}")
        if self.pytest_args:
            command += ["--", *self.pytest_args]
        return command


@dataclass
class Result:
    """What became of one environment."""

    environment: Environment
    status: str  # ran | unknown_release | build_failed | suite_failed
    message: str | None = None
    run_file: str | None = None
    log_file: str | None = None
    env_key: str | None = None
    env_reused: bool = False
    build_seconds: float = 0.0
    suite_seconds: float = 0.0
    exitstatus: int | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment.label,
            "varied": dict(self.environment.varied),
            "status": self.status,
            "message": self.message,
            "run_file": self.run_file,
            "log_file": self.log_file,
            "env_key": self.env_key,
            "env_reused": self.env_reused,
            "build_seconds": round(self.build_seconds, 1),
            "suite_seconds": round(self.suite_seconds, 1),
            "exitstatus": self.exitstatus,
            "counts": self.counts,
        }


def checks_ran(records: Sequence[dict[str, Any]]) -> bool:
    """Whether the suite reached a check of some method; a run file of collection errors alone says no."""
    return any(r.get("target") and r.get("outcome") in _CHECKED for r in records)


def counts_text(counts: dict[str, int]) -> str:
    shown = [f"{counts[o]} {o}" for o in _SHOWN if counts.get(o)]
    return ", ".join(shown) if shown else "no records"


def run_matrix(
    environments: Sequence[Environment],
    out: Path,
    options: SuiteOptions,
    *,
    without: Sequence[str] = (),
    env_root: Path | None = None,
    say: Callable[[str], None] | None = None,
) -> list[Result]:
    """Build and run every environment in order; ``OUT/matrix/summary.json`` is rewritten after each one."""
    say = say or _print
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results: list[Result] = []
    with _term_as_interrupt():  # a TERM stops the suite's process group too, not only this process
        for index, environment in enumerate(environments, 1):
            prefix = f"[{index}/{len(environments)}] {environment.label}:"
            result = _one(environment, out, options, without, env_root, lambda text, p=prefix: say(f"{p} {text}"))
            results.append(result)
            _write_summary(out, started, options, without, results)
    return results


@contextlib.contextmanager
def _term_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _one(
    environment: Environment,
    out: Path,
    options: SuiteOptions,
    without: Sequence[str],
    env_root: Path | None,
    say: Callable[[str], None],
) -> Result:
    if environment.unknown:
        message = "; ".join(environment.unknown)
        say(f"skipped: {message}")
        return Result(environment, "unknown_release", message)
    spec = spec_for(environment.pins(), without)
    say(f"environment {spec.key()}…")
    try:
        built = ensure(spec, env_root)
    except EnvBuildError as exc:
        first = str(exc).splitlines()
        say(f"environment failed to build: {first[-1] if first else exc}")
        return Result(environment, "build_failed", str(exc), env_key=spec.key())
    say(f"{'cached' if built.reused else f'built with {built.installer} ({built.seconds:.0f} s)'}; running suite…")
    report, log = out / f"{environment.slug}.json", out / ASIDE / f"{environment.slug}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    report.unlink(missing_ok=True)  # a run file left from before must not pass for this run's
    began = time.monotonic()
    status = _run_suite(options.command(built.python, report), built.path, log, options.timeout)
    seconds = time.monotonic() - began
    result = Result(
        environment,
        "ran",
        run_file=report.name,
        log_file=f"{ASIDE}/{log.name}",
        env_key=spec.key(),
        env_reused=built.reused,
        build_seconds=built.seconds,
        suite_seconds=seconds,
        exitstatus=status,
    )
    records = _records(report)
    if records is None:
        result.status, result.run_file = "suite_failed", None
        result.message = f"the suite left no run file (exit {status}); see {log.name}:\n{_tail(log)}"
        say(f"suite failed, no run file (exit {status}, {seconds:.0f} s); see {log}")
        return result
    result.counts = summarize(records)
    if not checks_ran(records):
        result.status = "suite_failed"  # a run file, but no check of any method ran: say why, not "ran"
        first = next((r.get("message") or r.get("reason") for r in records if r.get("message") or r.get("reason")), "")
        result.message = f"no check ran ({counts_text(result.counts)}): {str(first).splitlines()[0] if first else ''}"
        say(f"no check ran: {counts_text(result.counts)} ({seconds:.0f} s); see {log}")
        return result
    say(f"{counts_text(result.counts)} ({seconds:.0f} s)")
    return result


def _run_suite(command: list[str], env: Path, log: Path, timeout: float) -> int:
    """The suite in ``env``'s interpreter, nothing of this interpreter's environment leaking in.

    It runs in a process group of its own, so that a timeout or an interrupt stops pytest's workers too.
    """
    variables = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    variables["VIRTUAL_ENV"] = str(env)
    variables["PATH"] = os.pathsep.join([str(Path(command[0]).parent), variables.get("PATH", "")])
    with open(log, "w", encoding="utf-8") as handle:
        handle.write("$ " + " ".join(command) + "\n")
        handle.flush()
        process = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=variables, start_new_session=True
        )
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            handle.write(f"\nqconform matrix: the suite ran past {timeout:.0f} s and was stopped\n")
            return 124
        finally:
            if process.poll() is None:
                _stop_group(process)


def _stop_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _records(report: Path) -> list[dict[str, Any]] | None:
    try:
        doc = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    records = doc.get("records") if isinstance(doc, dict) else None
    return records if isinstance(records, list) else None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _write_summary(
    out: Path, started: str, options: SuiteOptions, without: Sequence[str], results: list[Result]
) -> None:
    doc = {
        "schema": MATRIX_SCHEMA,
        "version": MATRIX_VERSION,
        "started": started,
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "profile": options.profile,
        "workers": options.workers,
        "quantizers": list(options.quantizers) or ["all"],
        "without": list(without),
        "environments": [r.to_json() for r in results],
    }
    write_bytes_atomic(out / ASIDE / SUMMARY, json_text(doc).encode())


def _terminated(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _print(text: str) -> None:
    print(text, flush=True)
