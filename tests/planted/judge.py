"""Whether a run caught a planted bug: the intended check failed, and its message names the planted fault.

"Any failure" is not a catch: a check that fails for another reason (a crash, a skip turned error, a
neighbouring clause) would hide that the planted fault went unseen. So a record counts only when its
outcome is ``failed`` and the bug's ``message`` pattern is found in what it says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.planted import PlantedBug, bare_key

CAUGHT = "caught"


@dataclass(frozen=True)
class Verdict:
    """How one check fared on one target: ``caught``, or why not (with the records' outcomes and a message)."""

    status: str
    detail: str = ""

    @property
    def caught(self) -> bool:
        return self.status == CAUGHT

    def __str__(self) -> str:
        return self.status if self.caught or not self.detail else f"{self.status} ({self.detail})"


def _text(record: dict) -> str:
    return "\n".join(part for part in (record.get("message"), record.get("reason")) if part)


def verdict(records: list[dict], target: str, check: str, pattern: str) -> Verdict:
    """Whether ``check`` caught the bug registered as ``target``: some variant failed with a matching message."""
    mine = [r for r in records if r["target"] == target and r["check"] == check]
    if not mine:
        return Verdict("not run")
    if not pattern:
        return Verdict("no message pattern", "give the PlantedBug a message")
    failed = [r for r in mine if r["outcome"] == "failed"]
    if any(re.search(pattern, _text(r), re.IGNORECASE | re.DOTALL) for r in failed):
        return Verdict(CAUGHT)
    if failed:
        return Verdict("wrong message", _text(failed[0])[:300])
    outcomes = sorted({r["outcome"] for r in mine})
    first = next((r for r in mine if r["outcome"] != "passed"), mine[0])
    return Verdict("missed", f"{','.join(outcomes)}: {(first.get('reason') or first.get('message') or '')[:200]}")


def bare_verdict(records: list[dict], bug: PlantedBug, check: str) -> Verdict:
    """The verdict on the bug's spec-less twin, or its declared exemption."""
    if check not in bug.bare_checks:
        return Verdict("exempt", bug.bare_reason)
    return verdict(records, bare_key(bug.key), check, bug.message)


def rows(records: list[dict], bugs: dict[str, PlantedBug]) -> list[tuple[str, str, Verdict, Verdict]]:
    """(bug key, check, with its spec, bare) for every check that must catch a bug."""
    return [
        (bug.key, check, verdict(records, bug.key, check, bug.message), bare_verdict(records, bug, check))
        for bug in bugs.values()
        for check in bug.catches
    ]


def table(records: list[dict], bugs: dict[str, PlantedBug]) -> list[str]:
    """The catalogue as a Markdown table: bug | check | caught with spec | caught bare."""

    def cell(v: Verdict) -> str:
        return "yes" if v.caught else f"exempt: {v.detail}" if v.status == "exempt" else f"NO: {v.status}"

    lines = ["| bug | check | caught with spec | caught bare |", "|---|---|---|---|"]
    lines += [f"| {key} | {check} | {cell(s)} | {cell(b)} |" for key, check, s, b in rows(records, bugs)]
    return lines
