"""``qconform report --diff OLD NEW``: what an upgrade changed, check by check.

Records are matched by target, node id (without its directory) and device. A check *newly fails*
when it fails (failed, error, crashed, timeout, broken) in NEW and did not in OLD, or was absent
there; it *newly passes* when it passes in NEW after failing, being a known deviation, or being
skipped in OLD. Other outcome changes (a check that no longer runs, say) are listed apart. A measured
figure *moved* when ``|new - old| > threshold * |old|`` (a figure that was 0 moves when it is no
longer 0; NaN on one side only always moves). Wall-clock figures (``*_seconds``) are left out: on shared
machines two runs' timings differ by more than any threshold, so they would bury the figures that say how a
method behaves (speed is stated as a ratio within one run, as the benchmarks do).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from qconform.report import measured
from qconform.report.matrix import PROBLEMS
from qconform.report.merge import Run, record_key
from qconform.report.render_markdown import md, table
from qconform.support.environment import environment_label

ABSENT = "absent"
TIMING_SUFFIX = "_seconds"  # a measured figure that is a wall-clock time (the hostile checks' load_seconds)


@dataclass(frozen=True)
class Change:
    target: str
    check: str
    nodeid: str
    old: str
    new: str
    record: dict[str, Any]  # the NEW record, or the OLD one when the check disappeared

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "check": self.check,
            "nodeid": self.nodeid,
            "old": self.old,
            "new": self.new,
            "reason": self.record["reason"],
            "message": self.record["message"],
            "reproduce": self.record["reproduce"],
        }


@dataclass(frozen=True)
class Move:
    target: str
    check: str
    nodeid: str
    key: str
    old: float
    new: float

    @property
    def ratio(self) -> float:
        if self.old == 0 or not (math.isfinite(self.old) and math.isfinite(self.new)):
            return math.nan
        return self.new / self.old

    def to_json(self) -> dict[str, Any]:
        number = lambda v: v if math.isfinite(v) else str(v)  # noqa: E731  strict JSON
        return {
            "target": self.target,
            "check": self.check,
            "nodeid": self.nodeid,
            "key": self.key,
            "old": number(self.old),
            "new": number(self.new),
            "ratio": number(self.ratio),
        }


@dataclass
class Diff:
    old: Run
    new: Run
    threshold: float
    software: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    newly_failing: list[Change] = field(default_factory=list)
    newly_passing: list[Change] = field(default_factory=list)
    other: list[Change] = field(default_factory=list)
    moved: list[Move] = field(default_factory=list)
    unchanged: int = 0

    @property
    def regressed(self) -> bool:
        return bool(self.newly_failing)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "qconform.diff",
            "version": 1,
            "old": self.old.source,
            "new": self.new.source,
            "threshold": self.threshold,
            "software": [{"name": n, "old": o, "new": v} for n, o, v in self.software],
            "newly_failing": [c.to_json() for c in self.newly_failing],
            "newly_passing": [c.to_json() for c in self.newly_passing],
            "other_changes": [c.to_json() for c in self.other],
            "moved": [m.to_json() for m in self.moved],
            "unchanged": self.unchanged,
        }


def _software(env: dict[str, Any]) -> dict[str, str | None]:
    facts: dict[str, str | None] = {"environment": environment_label(env), "python": env.get("python")}
    facts.update(env.get("packages", {}))
    return facts


def diff(old: Run, new: Run, threshold: float = 0.1) -> Diff:
    result = Diff(old, new, threshold)
    before, after = _software(old.environment), _software(new.environment)
    result.software = [
        (n, before.get(n), after.get(n)) for n in dict.fromkeys([*before, *after]) if before.get(n) != after.get(n)
    ]
    old_records = {record_key(r): r for r in old.records}
    new_records = {record_key(r): r for r in new.records}
    for key in dict.fromkeys([*old_records, *new_records]):
        was, now = old_records.get(key), new_records.get(key)
        shown = now or was
        assert shown is not None
        change = Change(
            shown["target"] or "(run)",
            shown["check"],
            shown["nodeid"],
            was["outcome"] if was else ABSENT,
            now["outcome"] if now else ABSENT,
            shown,
        )
        if change.new in PROBLEMS and change.old not in PROBLEMS:
            result.newly_failing.append(change)
        elif change.new == "passed" and change.old in (*PROBLEMS, "xfailed", "skipped"):
            result.newly_passing.append(change)
        elif change.old != change.new:
            result.other.append(change)
        else:
            result.unchanged += 1
        if was and now:
            result.moved += _moves(change, was["measured"], now["measured"], threshold)
    return result


def _moves(change: Change, old: dict[str, Any], new: dict[str, Any], threshold: float) -> list[Move]:
    moves = []
    for key in old:
        if key.endswith(TIMING_SUFFIX):
            continue
        a, b = measured.number(old[key]), measured.number(new.get(key))
        if a is None or b is None or _same(a, b, threshold):
            continue
        moves.append(Move(change.target, change.check, change.nodeid, key, a, b))
    return moves


def _same(a: float, b: float, threshold: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(b - a) <= threshold * abs(a)


def render_markdown(result: Diff) -> str:
    lines = [
        "# qconform diff",
        "",
        f"OLD: {md(result.old.source)} ({md(environment_label(result.old.environment))}, finished "
        f"{md(result.old.finished)})  ",
        f"NEW: {md(result.new.source)} ({md(environment_label(result.new.environment))}, finished "
        f"{md(result.new.finished)})",
        "",
        f"{len(result.newly_failing)} newly failing, {len(result.newly_passing)} newly passing, "
        f"{len(result.other)} other changes, {len(result.moved)} moved figures (threshold "
        f"{result.threshold:g} relative), {result.unchanged} unchanged.",
    ]
    if result.software:
        lines += ["", "## Software", ""]
        lines += table(
            ["", "OLD", "NEW"], [[md(n), md(o or "missing"), md(v or "missing")] for n, o, v in result.software]
        )
    for title, changes in (
        ("Newly failing", result.newly_failing),
        ("Newly passing", result.newly_passing),
        ("Other outcome changes", result.other),
    ):
        if not changes:
            continue
        lines += ["", f"## {title} ({len(changes)})", ""]
        rows = [
            [
                md(c.target),
                md(c.nodeid.rsplit("::", 1)[-1]),
                f"{md(c.old)} → {md(c.new)}",
                md(c.record["reason"] or c.record["message"] or "-", 160),
            ]
            for c in changes
        ]
        lines += table(["method", "check", "outcome", "why"], rows)
    if result.moved:
        lines += ["", f"## Moved figures ({len(result.moved)})", ""]
        rows = [
            [
                md(m.target),
                md(m.nodeid.rsplit("::", 1)[-1]),
                md(m.key),
                measured.format_number(m.old),
                measured.format_number(m.new),
                "-" if math.isnan(m.ratio) else f"x{m.ratio:.3g}",
            ]
            for m in result.moved
        ]
        lines += table(["method", "check", "figure", "OLD", "NEW", "NEW/OLD"], rows)
    return "\n".join(lines) + "\n"
