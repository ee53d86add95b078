"""The small helpers the contract checks lean on: device existence, message matching, footprints, strategies."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from transformers.quantizers import HfQuantizer

from qconform.checks.test_config import names_field
from qconform.checks.test_environment import names_package
from qconform.discovery.targets import completed
from qconform.inputs.strategies import TINY_TOP_MODULES, device_maps, max_memory, places, raw_max_memory
from qconform.specs.model import Capabilities, KnownDeviation, Promises, QuantizerSpec, Requirement
from qconform.support.contract import device_exists, footprint_bytes, paths_for


def test_devices_that_exist_here():
    assert device_exists("cpu") and device_exists("disk") and device_exists(torch.device("cpu"))
    assert not device_exists("cuda:63") and not device_exists(63) and not device_exists("not-a-device")
    assert device_exists("mps") == torch.backends.mps.is_available()


def test_field_and_package_names_in_messages():
    assert names_field("String-based quantization type 'x' is no longer supported", "quant_type")
    assert names_field("Activation scheme bogus not supported", "activation_scheme")
    assert not names_field("invalid literal for int() with base 10: 'four'", "nbits")
    hqq = Requirement("optimum.quanto", "optimum-quanto")
    assert names_package("requires optimum-quanto library (`pip install optimum-quanto`)", hqq)
    assert names_package("No module named 'optimum'", hqq)  # the parent package counts
    assert not names_package("GPU is required to quantize", Requirement("gptqmodel", "gptqmodel"))


def test_footprint_counts_each_tensor_once():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 4))
    model[1].weight = torch.nn.Parameter(model[0].weight.t().contiguous())
    model.register_buffer("table", torch.zeros(3, dtype=torch.float16))
    expected = sum(p.numel() * p.element_size() for p in model.parameters()) + 3 * 2
    assert footprint_bytes(model) == expected
    model[1].weight = model[0].weight  # tied: counted once
    assert footprint_bytes(model) == expected - 32 * 4


class QuantizerWithOps(HfQuantizer):
    """Quantizes on load (it has quantize ops), as far as a probe can tell."""

    def get_quantize_ops(self):
        raise NotImplementedError


def test_paths_follow_capabilities():
    def spec(**kw):
        return completed(QuantizerSpec("x").replace(**kw), QuantizerWithOps, dict)

    assert paths_for(spec()) == ["argument", "checkpoint"]
    assert paths_for(spec(requires_calibration=True)) == ["checkpoint"]
    assert paths_for(spec(capabilities=Capabilities(loads_prequantized=False))) == ["argument"]


def test_deviation_for_other_versions_does_not_apply():
    old = KnownDeviation("test_x", "r", "e", when=("torch", "<1.0"))
    now = KnownDeviation("test_x", "r", "e", when=("torch", ">=1.0"))
    assert not old.applies_to("test_x", "") and now.applies_to("test_x", "")
    assert not KnownDeviation("test_x", "r", "e", when=("no-such-dist", ">=0")).applies_to("test_x", "")


@settings(max_examples=30, deadline=None)
@given(device_map=device_maps(where=places(2)), budgets=max_memory((0, 1, "cpu"), 1000), raw=raw_max_memory())
def test_strategies_draw_what_transformers_accepts(device_map, budgets, raw):
    assert set(device_map) in ({""}, set(TINY_TOP_MODULES))
    assert set(device_map.values()) <= {0, 1, "cpu", "disk"}
    assert set(budgets) == {0, 1, "cpu"} and all(0 <= b <= 2000 for b in budgets.values())
    assert all(isinstance(v, int) and v >= 0 for v in raw.values())


def test_every_declared_deviation_names_a_check_that_exists():
    """A misspelt check name would make a deviation silently never apply."""
    from qconform.discovery.checks_index import check_functions
    from qconform.discovery.targets import discover
    from qconform.specs.model import MODEL_LOADING_CHECKS

    checks = {name for family in check_functions().values() for name in family}
    assert set(MODEL_LOADING_CHECKS) <= checks, set(MODEL_LOADING_CHECKS) - checks
    unknown = {
        (key, deviation.check)
        for key, target in discover().targets.items()
        for deviation in target.spec.known_deviations
        if deviation.check not in checks
    }
    assert not unknown


def _refused_in_validation(message: str, error: type[Exception] = ValueError) -> Exception:
    """An exception raised from a function named like the quantizer hook (what ``unavailable_reason`` looks for)."""

    def validate_environment() -> None:
        raise error(message)

    try:
        validate_environment()
    except Exception as exc:  # the point: keep the traceback
        return exc
    raise AssertionError("unreachable")


def test_validation_refusal_of_a_probed_method_is_this_machines_lack_only_for_packages_and_network():
    """Where the spec leaves on-the-fly quantization to be found out, a validate_environment refusal naming a
    package or the network is a skip reason; a hardware refusal, or a package error raised outside validation, or
    for a spec that states the capability, stays a failure (None). Needing the network skips anywhere."""
    from qconform.support.contract import unavailable_reason

    probed = QuantizerSpec("m", found_out=("quantizes_on_the_fly",))
    stated = QuantizerSpec("m", promises=Promises(capabilities=Capabilities(quantizes_on_the_fly=True)))
    package = _refused_in_validation("MXFP4 requires Triton: `pip install triton>=3.5`")
    assert (unavailable_reason(probed, package) or "").startswith("not installed here")
    network = _refused_in_validation("could not reach huggingface.co", ConnectionError)
    assert (unavailable_reason(probed, network) or "").startswith("needs the network")
    assert unavailable_reason(probed, _refused_in_validation("NVFP4 requires Blackwell (sm100+)")) is None
    assert unavailable_reason(stated, package) is None
    assert unavailable_reason(probed, ValueError("MXFP4 requires Triton: `pip install triton>=3.5`")) is None
    # offline anywhere, for any spec: kernels could not ask the hub about a kernel repository (seen on a fresh
    # setup, where triton lets MXFP4's on-the-fly path reach the hub kernel in preprocess_model)
    trust = ValueError("Kernel repository 'kernels-community/x' could not verify publisher trust status.")
    assert (unavailable_reason(stated, trust) or "").startswith("needs the network")
