"""Each planted bug is caught by the check meant for it; each correct control passes those checks."""

from __future__ import annotations

import pytest

from tests.planted import catalogue

BUGS = catalogue()


@pytest.mark.parametrize("module", sorted(BUGS), ids=lambda m: m.rsplit(".", 1)[-1])
def test_planted_bug_is_caught(module, catalogue_run):
    bug = BUGS[module]
    for check in bug.catches:
        records = [r for r in catalogue_run["records"] if r["target"] == bug.key and r["check"] == check]
        assert records, f"{check} did not run on {bug.key}"
        missed = [r for r in records if r["outcome"] != "failed"]
        assert not missed, f"{check} missed the planted bug '{bug.description}': {missed}"


@pytest.mark.parametrize("module", sorted(m for m, b in BUGS.items() if b.control), ids=lambda m: m.rsplit(".", 1)[-1])
def test_control_passes_the_same_checks(module, catalogue_run):
    bug = BUGS[module]
    for check in bug.catches:
        records = [r for r in catalogue_run["records"] if r["target"] == bug.control and r["check"] == check]
        assert records, f"{check} did not run on the control {bug.control}"
        failed = [(r["nodeid"], r["outcome"], r["reason"] or r["message"]) for r in records if r["outcome"] != "passed"]
        assert not failed, f"the control {bug.control} does not pass {check}: {failed}"
