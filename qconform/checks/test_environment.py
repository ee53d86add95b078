"""Environment validation: a missing package, a missing accelerator or an unsupported device map must
be refused clearly at validation (``get_hf_quantizer``), before any weight is touched.

A package is made missing faithfully: in a subprocess whose import machinery refuses it, so that
transformers' own availability checks see it missing (``qconform.support.environment.hide_packages``). One
subprocess per hidden package serves every selected target that needs it. Packages already missing
here are probed in this process. The ``cpu`` variant hides the accelerator, the ``cuda`` variant
keeps it.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qconform.discovery.targets import Target
from qconform.inputs.strategies import device_maps, places
from qconform.specs.model import Requirement
from qconform.support import outcomes
from qconform.support.assertions import expect, fail
from qconform.support.contract import default_config, paths_for, quantizer
from qconform.support.hiding import normalise_distribution
from qconform.support.outcomes import NOT_APPLICABLE, NOT_INSTALLED
from qconform.support.probes import (
    hidden_probes,
    missing_package_call,
    needs_subprocess,
    probe_here,
    probe_item,
    saved_config,
)

ACCELERATOR_WORDS = re.compile(r"\b(gpu|cuda|xpu|mps|npu|hpu|accelerator|apple silicon|compute capability|sm\d+)", re.I)


def _session(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("qconform_session")


def _names(req: Requirement) -> set[str]:
    root = req.import_name.split(".")[0]
    return {normalise_distribution(n) for n in (req.import_name, req.distribution, root) if n}


def names_package(message: str, req: Requirement) -> bool:
    text = normalise_distribution(message)
    return any(name in text or name.replace("-", "_") in message.lower() for name in _names(req))


def _probe(
    request: pytest.FixtureRequest, target: Target, hidden: Requirement | None, hide_accelerator: bool
) -> dict[str, Any]:
    """What ``get_hf_quantizer`` does for ``target`` with ``hidden`` (and the accelerator) missing."""
    session = _session(request)
    call = missing_package_call(hidden, session.targets, session.plugins, hide_accelerator)
    if call is None:
        return probe_here(target.spec, paths_for(target.spec), saved_config(target))
    return call.answer()[target.key]


def _describe(outcome: dict[str, Any]) -> str:
    if not outcome.get("raised"):
        return f"no error on the {outcome.get('path')} path (quantizer {outcome.get('quantizer')})"
    return f"{outcome['type']} at {outcome['stage']} ({outcome['path']} path): {outcome['message'][:300]}"


def test_missing_package_is_named(target, device, request):
    spec = target.spec
    if not spec.requirements:
        pytest.skip(f"{target.key} declares no required package (spec)")
    hide_accelerator = device == "cpu"
    problems, checked, skipped = [], [], []
    for req in spec.requirements:
        installed = req.missing_reason() is None
        outcome = _probe(request, target, req if installed else None, hide_accelerator)
        if outcome.get("path") is None and not outcome.get("raised"):
            skipped.append(f"{req.distribution}: no way to get a config without it ({outcome.get('skipped')})")
            continue
        checked.append(req.distribution)
        missing_then = [r for r in spec.requirements if r is req or r.missing_reason() is not None]
        if not outcome.get("raised"):
            problems.append(f"{req.distribution} missing: {_describe(outcome)}")
            continue
        message = outcome["message"]
        named = [r for r in missing_then if names_package(message, r)]
        if not named:
            problems.append(f"{req.distribution} missing: the error names no missing package: {_describe(outcome)}")
        elif "install" not in message.lower():
            problems.append(
                f"{req.distribution} missing: the error does not say how to install it: {_describe(outcome)}"
            )
    if not checked:
        pytest.skip("; ".join(skipped))
    expect(
        not problems,
        "with a required package missing, validation must raise an error naming it and how to install it",
        problems,
    )


@pytest.mark.qconform_requires("needs_accelerator")
def test_no_accelerator_is_refused_clearly(target, request):
    spec = target.spec
    if not paths_for(spec):
        outcomes.skip(NOT_APPLICABLE, f"{target.key} neither quantizes on the fly nor loads checkpoints")
    results = []
    for path in paths_for(spec):
        if not needs_subprocess([], True):
            outcome = probe_here(spec, [path], saved_config(target))
        else:
            session = _session(request)
            items = [
                probe_item(t, [p], f"{t.key}@{p}")
                for t in sorted(session.targets, key=lambda t: t.key)
                if t.spec.promises.capabilities.needs_accelerator
                for p in paths_for(t.spec)
            ]
            answers = hidden_probes({"plugins": list(session.plugins), "probes": items}, [], [], True)
            outcome = answers[f"{target.key}@{path}"]
        results.append((path, outcome))
    problems, blocked = [], []
    for path, outcome in results:
        if path == "checkpoint" and spec.promises.prequantized_fallback == "dequantize":
            if not outcome.get("raised") and not outcome.get("dequantize"):
                problems.append(
                    f"checkpoint path: spec says it dequantizes, but {_describe(outcome)}, dequantize=False"
                )
            continue
        if not outcome.get("raised"):
            problems.append(f"{path} path: {_describe(outcome)}")
            continue
        message = outcome["message"]
        if ACCELERATOR_WORDS.search(message):
            continue
        missing = [r for r in spec.requirements if r.missing_reason() is not None and names_package(message, r)]
        if missing:
            blocked.append(f"{path} path stopped at a package missing here first: {_describe(outcome)}")
        else:
            problems.append(f"{path} path: the error does not say an accelerator is needed: {_describe(outcome)}")
    expect(
        not problems, "without an accelerator, validation must refuse clearly (or fall back as the spec says)", problems
    )
    if blocked and len(blocked) == len(results):
        pytest.skip("; ".join(blocked))


@given(data=st.data())
def test_offload_rule(target, data):
    rule = target.spec.promises.offload_rule
    if rule is None:
        pytest.skip(f"{target.key} declares no offload rule (spec)")
    config = copy.deepcopy(default_config(target))
    lifted = data.draw(st.booleans(), label=f"{rule.unless}") if rule.unless else False
    if rule.unless:
        setattr(config, rule.unless, lifted)
    device_map = data.draw(device_maps(where=places(2)), label="device_map")
    on_the_fly = "argument" in paths_for(target.spec)
    hf_quantizer = quantizer(target, config, pre_quantized=not on_the_fly)
    values = set(device_map.values())
    refused_place = any(v in rule.places for v in values)
    beside = any(isinstance(v, int) for v in values)
    if lifted or not refused_place:
        must = "accept"
    elif beside or not rule.beside_accelerator:
        must = "refuse"
    else:
        must = "either"
    try:
        hf_quantizer.validate_environment(device_map=copy.deepcopy(device_map), weights_only=True)
    except ValueError as exc:
        if must == "accept":
            fail("validate_environment refused a device map its offload rule allows", [repr(device_map), str(exc)])
        return
    if must == "refuse":
        fail(
            f"validate_environment accepted modules on {sorted(set(rule.places) & values)} beside an accelerator"
            + (f" with {rule.unless}=False" if rule.unless else ""),
            [repr(device_map)],
        )


def test_calibration_is_required_as_declared(target):
    """A method that requires calibration refuses ``pre_quantized=False``, and only such a method does (that the
    spec's ``requires_calibration`` agrees with the class: test_declared_capabilities_agree_with_the_quantizer)."""
    spec = target.spec
    config = default_config(target)
    from transformers.quantizers.auto import AutoHfQuantizer

    try:
        AutoHfQuantizer.from_config(config, pre_quantized=False)
    except ValueError as exc:
        expect(
            spec.promises.requires_calibration,
            "pre_quantized=False was refused for a method that needs no calibration",
            [str(exc)],
        )
        return
    except ImportError as exc:
        if spec.missing_requirements():
            outcomes.skip(NOT_INSTALLED, str(exc))
        raise
    expect(
        not spec.promises.requires_calibration,
        "pre_quantized=False on a method that requires calibration must raise ValueError",
        ["the quantizer was built without complaint"],
    )
