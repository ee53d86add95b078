"""Build one record per check from the pytest reports of its phases.

Everything a record needs travels on the reports' ``user_properties`` (serialised by pytest and
pytest-xdist), so a controller builds complete records from its workers' reports.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any

META = "qconform"
MEASURED = "qconform.measured"
FAILURE = "qconform.failure"
INPUTS = "qconform.inputs"  # the configs a check drew, as qconform.inputs.recorded notes them
WORKER_FACTS = "qconform.worker"  # an xdist worker's devices and environment, on its first report (session.hooks)

_NOTE_MARKERS = ("\nFalsifying example", "\nFailing test case", "\nFalsifying explicit example")
_CRASH = re.compile(r"worker '?\w+'? crashed while running|crashed while running")
_TIMEOUT = re.compile(r"Timeout \(>[\d.]+s\)|timed out after [\d.]+ ?s")


def json_safe(value: Any) -> Any:
    """Numbers stay numbers; NaN and infinities become strings so the file stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)


def properties(report: Any, name: str) -> list[Any]:
    return [value for key, value in getattr(report, "user_properties", ()) if key == name]


def target_of_param_id(param_id: str, keys: Iterable[str]) -> str | None:
    """The longest known key that starts the parameter id (keys may contain '-')."""
    matches = [k for k in keys if param_id == k or param_id.startswith(k + "-")]
    return max(matches, key=len) if matches else None


def meta_from_nodeid(nodeid: str, keys: Iterable[str] = ()) -> dict[str, Any]:
    """Fallback when a report carries no metadata (a crashed worker sends none)."""
    path, _, rest = nodeid.partition("::")
    name, _, param_id = rest.partition("[")
    module = path.rsplit("/", 1)[-1].removesuffix(".py")
    param_id = param_id.removesuffix("]")
    return {
        "target": target_of_param_id(param_id, keys) if param_id else None,
        "origin": None,
        "check": name or module,
        "family": module.removeprefix("test_"),
        "params": {"id": param_id} if param_id else {},
        "device": None,
    }


# a sub-exception's first line in pytest's rendering of an exception group ("    | ValueError: ...")
_INNER_ERROR = re.compile(r"(?m)^[ \t]*\|[ \t]+(?:E[ \t]+)?((?:\w+\.)*\w+(?:Error|Exception|Violation): .*)$")


def short_message(report: Any) -> str | None:
    longrepr = getattr(report, "longrepr", None)
    if longrepr is None:
        return None
    crash = getattr(getattr(longrepr, "reprcrash", None), "message", None)
    if crash and crash.startswith(("ExceptionGroup", "BaseExceptionGroup")):
        # hypothesis found several distinct failures: keep each one's own words, not only the group's title
        inner = dict.fromkeys(m.group(1).strip() for m in _INNER_ERROR.finditer(str(longrepr)))
        crash = " | ".join([crash, *inner]) if inner else crash
    text = crash or str(longrepr)
    for marker in _NOTE_MARKERS:  # hypothesis' notes go to the record's counterexample field
        text = text.split(marker, 1)[0]
    return text.strip()[:2000] or None


def _skip_reason(report: Any) -> str | None:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return short_message(report)


def outcome_of(phases: dict[str, Any]) -> tuple[str, str | None]:
    """The record's outcome and reason, from the setup/call/teardown reports of one item."""
    setup, call, teardown = phases.get("setup"), phases.get("call"), phases.get("teardown")
    for report in phases.values():  # xdist reports a crashed worker's item with when="???"
        message = short_message(report) or ""
        if report.failed and _CRASH.search(message):
            return "crashed", message
        if report.failed and _TIMEOUT.search(message):
            return "timeout", message
    if setup is not None and setup.skipped:
        if hasattr(setup, "wasxfail"):
            return "xfailed", setup.wasxfail or None
        return "skipped", _skip_reason(setup)
    if setup is not None and setup.failed:
        return "error", short_message(setup)
    if call is not None:
        if hasattr(call, "wasxfail"):
            if call.skipped:
                return "xfailed", call.wasxfail or None
            if call.passed:  # a non-strict deviation whose inputs this run did not draw
                return "passed", f"known deviation did not show with this run's inputs: {call.wasxfail}"
            return "failed", f"known deviation no longer happens: {call.wasxfail}"
        if call.skipped:
            return "skipped", _skip_reason(call)
        if call.failed:
            message = short_message(call) or ""
            if message.startswith("[XPASS(strict)]"):
                return "failed", "known deviation no longer happens: " + message.removeprefix("[XPASS(strict)]").strip()
            return "failed", None
    if teardown is not None and teardown.failed:
        return "error", short_message(teardown)
    if call is None:
        return "error", "the check did not run its call phase"
    return "passed", None


def build_record(nodeid: str, phases: dict[str, Any], keys: Iterable[str] = ()) -> dict[str, Any]:
    """One record from the reports of one item's phases (keys: setup, call, teardown)."""
    any_report = next(iter(phases.values()))
    metas = [m for r in phases.values() for m in properties(r, META)]
    meta = dict(metas[0]) if metas else meta_from_nodeid(nodeid, keys)
    measured: dict[str, Any] = {}
    failure: dict[str, Any] = {}
    drawn: dict[str, Any] = {}
    for report in phases.values():
        for value in properties(report, MEASURED):
            measured.update(value)
        for value in properties(report, FAILURE):
            failure.update(value)
        for value in properties(report, INPUTS):
            drawn.update(value)
    outcome, reason = outcome_of(phases)
    if outcome == "failed" and meta.get("failure_outcome"):
        outcome = meta["failure_outcome"]
    failing = [r for r in phases.values() if r.failed]
    # an xfailed check keeps what it raised: the report shows the deviation as it was observed, not only declared
    shown = [r for r in phases.values() if hasattr(r, "wasxfail") and r.skipped and not isinstance(r.longrepr, tuple)]
    message = short_message(failing[0]) if failing else short_message(shown[0]) if shown else None
    return json_safe(
        {
            "nodeid": nodeid,
            "target": meta.get("target"),
            "origin": meta.get("origin"),
            "check": meta.get("check") or getattr(any_report, "head_line", None) or nodeid,
            "family": meta.get("family") or "unknown",
            "params": meta.get("params") or {},
            "device": meta.get("device"),
            "outcome": outcome,
            "reason": reason,
            "message": message,
            "duration_s": round(sum(float(r.duration) for r in phases.values()), 4),
            "measured": measured,
            "counterexample": failure.get("counterexample") if outcome in ("failed", "error") else None,
            "reproduce": failure.get("reproduce") or meta.get("reproduce")
            if outcome in ("failed", "error", "crashed", "timeout")
            else None,
        }
        # the failing example's configs, for qconform repro (optional: a passing check's last draw says nothing)
        | ({"inputs": drawn} if drawn and outcome in ("failed", "xfailed", "error") else {})
    )


def collection_error_record(
    nodeid: str, message: str, outcome: str = "error", keys: Iterable[str] = ()
) -> dict[str, Any]:
    meta = meta_from_nodeid(nodeid, keys)
    return {
        "nodeid": nodeid,
        "target": meta["target"],
        "origin": None,
        "check": meta["check"],
        "family": meta["family"],
        "params": {},
        "device": None,
        "outcome": outcome,
        "reason": "collection failed",
        "message": message[:2000],
        "duration_s": 0.0,
        "measured": {},
        "counterexample": None,
        "reproduce": None,
    }


def broken_plugin_record(source: str, error: str) -> dict[str, Any]:
    return {
        "nodeid": f"qconform::plugin[{source}]",
        "target": None,
        "origin": "plugin",
        "check": "test_plugin_imports",
        "family": "discovery",
        "params": {"plugin": source},
        "device": None,
        "outcome": "broken",
        "reason": f"{source} failed to import",
        "message": error[:2000],
        "duration_s": 0.0,
        "measured": {},
        "counterexample": None,
        "reproduce": None,
    }


class RecordCollector:
    """Gathers phase reports by node id on the controller and turns them into records at the end."""

    def __init__(self, keys: Iterable[str] = (), enrich: Callable[[dict], dict] | None = None) -> None:
        self.keys = tuple(keys)
        self.enrich = enrich or (lambda record: record)
        self._phases: dict[str, dict[str, Any]] = {}
        self._extra: list[dict[str, Any]] = []

    def add_report(self, report: Any) -> None:
        self._phases.setdefault(report.nodeid, {})[report.when] = report

    def add_record(self, record: dict[str, Any]) -> None:
        self._extra.append(record)

    def records(self) -> list[dict[str, Any]]:
        built = [self.enrich(build_record(nodeid, phases, self.keys)) for nodeid, phases in self._phases.items()]
        return sorted(built + self._extra, key=lambda r: r["nodeid"])

    def __len__(self) -> int:
        return len(self._phases) + len(self._extra)


def summarize(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        counts[record["outcome"]] = counts.get(record["outcome"], 0) + 1
    return dict(sorted(counts.items()))
