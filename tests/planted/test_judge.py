"""The catalogue's own machinery: what counts as a catch, and what the bare twins are."""

from __future__ import annotations

import pytest
from transformers.quantizers.auto import AUTO_QUANTIZATION_CONFIG_MAPPING, AUTO_QUANTIZER_MAPPING

from tests.planted import PlantedBug, bare_key, catalogue
from tests.planted.judge import bare_verdict, verdict

BUG = PlantedBug(key="k", catches=("test_a",), description="d", message=r"scales? forgotten")


def _record(outcome: str, message: str | None = None, target: str = "k", check: str = "test_a") -> dict:
    return {"target": target, "check": check, "outcome": outcome, "message": message, "reason": None}


@pytest.mark.parametrize(
    ("records", "status"),
    [
        ([_record("failed", "ContractViolation: the scale forgotten")], "caught"),
        ([_record("passed"), _record("failed", "ContractViolation: Scales forgotten\n  - w")], "caught"),
        ([_record("failed", "RuntimeError: shape mismatch")], "wrong message"),
        ([_record("skipped", "no codec")], "missed"),
        ([_record("error", "scale forgotten")], "missed"),
        ([_record("failed", "scale forgotten", target="k-other")], "not run"),
    ],
)
def test_only_the_planted_failure_is_a_catch(records, status):
    assert verdict(records, BUG.key, "test_a", BUG.message).status == status


def test_no_pattern_is_no_catch():
    assert not verdict([_record("failed", "anything")], "k", "test_a", "").caught


def test_bare_exemption_needs_a_reason():
    with pytest.raises(ValueError, match="bare_reason"):
        PlantedBug(key="k", catches=("test_a",), description="d", message="m", bare=False)
    exempt = PlantedBug(key="k", catches=("test_a",), description="d", message="m", bare=False, bare_reason="oracle")
    assert bare_verdict([], exempt, "test_a").status == "exempt"
    assert not bare_verdict([], BUG, "test_a").caught  # a bug that must be caught bare and was not run is missed


def test_bare_twins_have_their_own_key_and_no_spec():
    """Each bare twin dispatches under its own key, its config says so (unless writing another method's key is the
    bug), and the bare plugin declares no spec for it."""
    import tests.planted.bare as bare

    assert not hasattr(bare, "SPECS")
    for bug in catalogue().values():
        if not bug.bare_checks:
            continue
        key = bare_key(bug.key)
        assert issubclass(AUTO_QUANTIZER_MAPPING[key], AUTO_QUANTIZER_MAPPING[bug.key])
        config, original = AUTO_QUANTIZATION_CONFIG_MAPPING[key], AUTO_QUANTIZATION_CONFIG_MAPPING[bug.key]
        assert issubclass(config, original) and config.__name__ == original.__name__
        if getattr(original, "KEY", None) == bug.key:
            assert config().quant_method == key
