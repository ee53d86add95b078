"""Each planted bug is caught by the check meant for it, with its spec and bare (registered with no spec), and
by the message meant for it; each correct control passes those checks, with its spec and bare."""

from __future__ import annotations

import pytest

from tests.planted import bare_key, catalogue
from tests.planted.judge import bare_verdict, verdict

BUGS = catalogue()
CONTROLLED = sorted(m for m, b in BUGS.items() if b.control)
BAD = ("failed", "error", "crashed", "timeout", "broken")


def _short(module: str) -> str:
    return module.rsplit(".", 1)[-1]


@pytest.mark.parametrize("module", sorted(BUGS), ids=_short)
def test_planted_bug_has_a_message_pattern(module):
    """A bug without a pattern would count any failure as a catch."""
    bug = BUGS[module]
    assert bug.message, f"{bug.key}: PlantedBug.message must say how the intended failure reads"


@pytest.mark.parametrize("module", sorted(BUGS), ids=_short)
def test_planted_bug_is_caught_with_its_spec(module, catalogue_run):
    bug = BUGS[module]
    records = catalogue_run["records"]
    missed = {c: str(v) for c in bug.catches if not (v := verdict(records, bug.key, c, bug.message)).caught}
    assert not missed, f"'{bug.description}' ({bug.key}) not caught as planted (/{bug.message}/): {missed}"


@pytest.mark.parametrize("module", sorted(BUGS), ids=_short)
def test_planted_bug_is_caught_bare(module, catalogue_run):
    bug = BUGS[module]
    if not bug.catches:
        pytest.skip(f"no check applies to {bug.key} on this machine")
    if not bug.bare_checks:
        pytest.skip(f"only a spec reveals it: {bug.bare_reason}")
    missed = {c: str(v) for c in bug.bare_checks if not (v := bare_verdict(catalogue_run["records"], bug, c)).caught}
    assert not missed, f"'{bug.description}' ({bare_key(bug.key)}, no spec) not caught as planted: {missed}"


def _control_failures(records: list[dict], key: str, checks: tuple[str, ...]) -> list:
    failures = []
    for check in checks:
        mine = [r for r in records if r["target"] == key and r["check"] == check]
        if not mine:
            failures.append((check, "not run"))
        failures += [(r["nodeid"], r["outcome"], r["reason"] or r["message"]) for r in mine if r["outcome"] != "passed"]
    return failures


@pytest.mark.parametrize("module", CONTROLLED, ids=_short)
def test_control_passes_the_same_checks(module, catalogue_run):
    bug = BUGS[module]
    failed = _control_failures(catalogue_run["records"], bug.control, bug.catches)
    assert not failed, f"the control {bug.control} does not pass {bug.catches}: {failed}"


@pytest.mark.parametrize("module", sorted(m for m in CONTROLLED if BUGS[m].bare_checks), ids=_short)
def test_bare_control_passes_the_same_checks(module, catalogue_run):
    """A check that failed on every bare target would catch every bare bug: the bare control shows it does not
    (it fails none of the checks its bug must fail bare, and passes each in some variant)."""
    bug = BUGS[module]
    key = bare_key(bug.control)
    problems = []
    for check in bug.bare_checks:
        mine = [r for r in catalogue_run["records"] if r["target"] == key and r["check"] == check]
        if not any(r["outcome"] == "passed" for r in mine):
            problems.append((check, "never passed", sorted({r["outcome"] for r in mine})))
        problems += [(r["nodeid"], r["outcome"], r["reason"] or r["message"]) for r in mine if r["outcome"] in BAD]
    assert not problems, f"the bare control {key} (no spec) does not pass {bug.bare_checks}: {problems}"


def test_a_failing_record_carries_its_failing_example(catalogue_run):
    """The bare 'merge mutates an input' bug shows only when the argument config sets max_input_length (it resets
    it to None): each of its failed records notes an argument config with a value there, so the noted configs
    are the failing example's (hypothesis replays it last), not some earlier draw's; passed records note none."""
    key = bare_key("planted-contract-merge-mutates-input")
    mine = [r for r in catalogue_run["records"] if r["target"] == key]
    assert mine and all(r["outcome"] == "failed" for r in mine)
    for record in mine:
        noted = record["inputs"]["argument config"]
        assert noted["class"].endswith(":DrainingLoadingConfig")
        assert noted["kwargs"]["max_input_length"] is not None, record["inputs"]
    assert not any("inputs" in r for r in catalogue_run["records"] if r["outcome"] == "passed")
