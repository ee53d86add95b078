"""Numerics: how close a method's quantized weights and outputs are to what they should be, per device.

Weights are drawn by hypothesis (``qconform.inputs.weights``: regular and irregular shapes, three dtypes,
normal, heavy-tailed, outlier columns, zero rows and blocks, constant blocks, tiny and huge
magnitudes) and go through the method's ``WeightCodec`` (``spec.oracles.codec``). Oracles: the reference
twin (bit-exact where the spec's ``twin_atol`` is 0), the full-precision weight and model (the spec's
``tolerances``), a matmul with the dequantized weight, and the same codec on the CPU. Measured
figures (worst over the examples) go to the report.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest
import torch
from hypothesis import Phase, assume, given, reject, settings
from hypothesis import strategies as st

from qconform.discovery.targets import Target
from qconform.inputs.configs import build, draw_config
from qconform.inputs.weights import (
    DTYPES,
    INPUT_KINDS,
    INPUT_SCALES,
    INPUT_TOKENS,
    KINDS,
    InputCase,
    draw_weight,
    draw_weights,
)
from qconform.specs.model import EXACT, weaker
from qconform.support import lifecycle
from qconform.support.assertions import expect, fail
from qconform.support.codecs import codec_of, require_support, roundtrip, supported, twin_pair
from qconform.support.lifecycle import QUANTIZED
from qconform.support.metrics import (
    Mismatch,
    compare_stored,
    disagreement,
    drift_bound,
    max_block_error,
    mismatch,
    non_finite,
    rel_error_bound,
    rel_frobenius,
    summary,
)

# hypothesis' explain phase re-runs a failing example many times to point at lines: too dear here
NO_EXPLAIN = tuple(p for p in Phase if p is not Phase.explain)
# the forward check loads a model per dtype and then draws cheap inputs: a third of the profile's examples
model_examples = settings(
    max_examples=max(3, settings.default.max_examples // 3), report_multiple_bugs=False, phases=NO_EXPLAIN
)
# shrinking is where a failing check spends its time: shrink and report one failure, not every distinct one
one_failure = settings(report_multiple_bugs=False, phases=NO_EXPLAIN)
# the finiteness check's faults hide in one config value (torchao's float8 among four types): twice the
# profile's examples, each trying every distribution at the drawn magnitude and at the two extremes
twice = settings(max_examples=2 * settings.default.max_examples, report_multiple_bugs=False, phases=NO_EXPLAIN)
EXTREME_SCALES = ("tiny", "huge")
# --- fixtures and helpers -------------------------------------------------------------------


def forward_bound(spec, dtype: torch.dtype) -> float:
    """How far a quantized Linear's output may be from the matmul with its dequantized weight."""
    if spec.promises.tolerances.forward_rel_error is not None:
        return spec.promises.tolerances.forward_rel_error
    return max(4 * torch.finfo(dtype).eps, 1e-5)


# --- 1. real backend against its twin -------------------------------------------------------


@one_failure
@given(data=st.data())
def test_codec_matches_twin(target, device, data, all_targets, worst):
    """The real backend's stored tensors and dequantized weight equal the twin's: bit for bit where the
    spec's twin_atol is 0 and the format is deterministic, else within twin_atol x the weight's peak."""
    real, twin = twin_pair(target, all_targets)
    real_codec, twin_codec = codec_of(real.spec), codec_of(twin.spec)
    require_support(real_codec, real.spec, [device])
    real_config = draw_config(data, real.spec, label="real config")
    if not hasattr(twin.config_class, "from_real"):
        pytest.skip(f"{twin.key}'s config has no from_real to map {real.key}'s config")
    try:
        twin_config = twin.config_class.from_real(real_config)
    except ValueError:
        reject()  # the twin refuses this config: it does not cover it (its post_init says why)
    cases = draw_weights(data, supported([(real_codec, real_config), (twin_codec, twin_config)], [device]))
    atol = real.spec.promises.tolerances.twin_atol
    exact = atol == 0 and real.spec.promises.capabilities.deterministic
    # the twin reproduces the backend's CPU arithmetic: on an accelerator they agree as each agrees with its CPU self
    promises = (real.spec.promises.tolerances.across_devices.level, twin.spec.promises.tolerances.across_devices.level)
    level = EXACT if device == "cpu" else weaker(*promises)
    bound = rel_error_bound(real.spec, real_config)
    lines, stored_all, gap = [], [], 0.0
    for case in cases:
        weight = case.make(device)
        real_stored, real_weight = roundtrip(real_codec, weight, real_config)
        twin_stored, twin_weight = roundtrip(twin_codec, weight, twin_config)
        if exact and level != EXACT:
            result = disagreement(level, weight, (real_stored, twin_stored), (real_weight, twin_weight), bound)
            stored_all += result.mismatches
            lines += [f"{case.shape}: {line}" for line in result.lines]
            continue
        stored = compare_stored(real_stored, twin_stored) if exact else []
        dequantized = mismatch("dequantized weight", real_weight, twin_weight)
        peak = float(weight.abs().max().float()) or 1.0
        shape_gap = 0.0 if dequantized is None else dequantized.max_abs_diff / peak
        gap, stored_all = max(gap, shape_gap), stored_all + stored
        found = [m.line for m in stored] + ([dequantized.line] if dequantized else []) if exact else []
        if not exact and shape_gap > atol:
            found = [f"dequantized {shape_gap:.3g} x the peak apart, bound {atol:.3g}"]
        lines += [f"{case.shape}: {line}" for line in found]
    worst(**summary(stored_all), dequantized_rel_gap=gap)
    what = (
        ("bit-exact expected" if level == EXACT else f"'{level}' expected on {device}")
        if exact
        else f"twin_atol {atol}"
    )
    expect(not lines, f"{real.key} and its twin {twin.key} disagree ({what})", lines)


# --- 2. error against full precision ---------------------------------------------------------


@one_failure
@given(data=st.data())
def test_error_within_bound(target, device, data, worst):
    """Quantize then dequantize stays within the spec's relative Frobenius bound (and max block error
    where it declares one); zeros stay zeros. Each example tries every distribution at every shape (for
    the drawn config, dtype, magnitude and seed): a fault of one distribution (constant groups, say)
    shows in every example, so a deviation declared for it fails deterministically."""
    spec = target.spec
    codec = codec_of(spec)
    require_support(codec, spec, [device])
    config = draw_config(data, spec)
    bound, block_bound = rel_error_bound(spec, config), spec.promises.tolerances.max_block_error
    over, rels, blocks = [], [], []
    for shaped in draw_weights(data, supported([(codec, config)], [device])):
        for case in (dataclasses.replace(shaped, kind=kind) for kind in KINDS):
            weight = case.make(device)
            _, approx = roundtrip(codec, weight, config)
            expect(approx.shape == weight.shape, f"dequantized shape {tuple(approx.shape)} is not {case.shape}")
            if not bool(torch.isfinite(approx).all()):
                continue  # NaN and inf are test_finite_weights_give_finite_results' finding
            rel, block = rel_frobenius(weight, approx), max_block_error(weight, approx)
            rels, blocks = [*rels, rel], [*blocks, block]
            where = f"{case.shape} {case.kind}"
            if rel > bound:
                over.append(f"{where}: relative Frobenius error {rel:.4g}, bound {bound:.4g}")
            if block_bound is not None and block > block_bound:
                over.append(f"{where}: max block error {block:.4g}, bound {block_bound:.4g}")
    assume(rels)
    worst(rel_error=max(rels), max_block_error=max(blocks))
    expect(not over, "quantize-dequantize error exceeds the spec's bound", over)


@pytest.mark.qconform_backend
@pytest.mark.qconform_requires("dequantizable")
def test_model_weights_error_within_bound(target, device, arch, measure):
    """A tiny model's Linear weights, quantized on loading and read back with ``dequantize()``, stay
    within the spec's relative Frobenius bound of the full-precision ones."""
    config = build(target.spec.inputs.default_config, target.spec)
    model = lifecycle.load(target.spec, config, device, arch)
    quantized = [n for n, s in lifecycle.states(model, arch).items() if s == QUANTIZED]
    reference = lifecycle.full_precision(arch, device)
    model.dequantize(dtype=reference.dtype)
    errors = {
        n: rel_frobenius(reference.get_submodule(n).weight, model.get_submodule(n).weight.to(reference.dtype))
        for n in quantized
    }
    blocks = {n: max_block_error(reference.get_submodule(n).weight, model.get_submodule(n).weight) for n in quantized}
    rel = max(errors.values(), default=0.0)
    measure(rel_error=rel, max_block_error=max(blocks.values(), default=0.0), modules=len(quantized))
    bound = rel_error_bound(target.spec, config)
    over = [f"{n}: {e:.4g}" for n, e in errors.items() if e > bound]
    expect(not over, f"dequantized weights exceed the relative error bound {bound}", over)


# --- 3. forward against the dequantized matmul -----------------------------------------------


class _Loaded:
    """Per dtype: a quantized tiny model, and the dequantized weight of each quantized Linear (read
    before any forward, through the codec, or through ``dequantize()`` of a second copy)."""

    def __init__(self, target: Target, device: str) -> None:
        self.target, self.device = target, device
        self.config = build(target.spec.inputs.default_config, target.spec)
        self.models: dict[str, tuple[Any, dict[str, torch.Tensor]]] = {}

    def get(self, dtype: str) -> tuple[Any, dict[str, torch.Tensor]]:
        if dtype not in self.models:
            self.models[dtype] = self._load(DTYPES[dtype])
        return self.models[dtype]

    def _load(self, dtype: torch.dtype) -> tuple[Any, dict[str, torch.Tensor]]:
        spec = self.target.spec
        arch = lifecycle.first_arch(spec)
        model = lifecycle.load(spec, self.config, self.device, arch, dtype)
        names = [n for n, s in lifecycle.states(model, arch).items() if s == QUANTIZED]
        if spec.oracles.codec is not None:
            codec = codec_of(spec)
            stored_by_module = _stored(model, names, spec, self.config)
            weights = {}
            for name in names:
                module = model.get_submodule(name)
                shape = (module.out_features, module.in_features)
                weights[name] = codec.dequantize(stored_by_module[name], self.config, shape, dtype).to(self.device)
        elif spec.promises.capabilities.dequantizable:
            twin = lifecycle.load(spec, self.config, self.device, arch, dtype)
            twin.dequantize(dtype=dtype)
            weights = {n: twin.get_submodule(n).weight.detach() for n in names}
        else:
            pytest.skip(f"{spec.method} has no codec and is not dequantizable: no dequantized weight to compare with")
        lifecycle.logits(model, arch)  # as in use: some methods finish preparing their Linears on the first forward
        return model, weights


def _stored(model: Any, names: list[str], spec, config: Any) -> dict[str, dict[str, torch.Tensor]]:
    """Each quantized Linear's stored tensors (bias aside): those of the pre-quantized checkpoint where the
    model came from one (backends may convert them into a kernel's layout on loading), else the module's."""
    if lifecycle.on_the_fly(spec):
        return {n: {k: v for k, v in model.get_submodule(n).state_dict().items() if k != "bias"} for n in names}
    from safetensors.torch import load_file

    path, _ = lifecycle.checkpoint_for(spec, config, lifecycle.first_arch(spec))
    tensors: dict[str, torch.Tensor] = {}
    for file in sorted(path.glob("*.safetensors")):
        tensors.update(load_file(str(file)))
    return {
        n: {k.removeprefix(f"{n}."): v for k, v in tensors.items() if k.startswith(f"{n}.") and k != f"{n}.bias"}
        for n in names
    }


@pytest.fixture
def loaded(target, device) -> _Loaded:
    return _Loaded(target, device)


@pytest.mark.qconform_backend
@model_examples
@given(data=st.data())
def test_linear_forward_matches_dequantized_matmul(target, device, data, loaded, worst):
    """Each quantized Linear's forward equals ``x @ dequantized_weight.T + bias`` within the spec's
    forward bound (the compute dtype's rounding unless it declares more), and finite inputs whose exact
    result the dtype can hold give finite outputs. Every example tries the drawn module with float32,
    float16 and bfloat16, and activations of every kind and magnitude (normal, outlier channels, zeros;
    0.01 to 30)."""
    names = sorted(loaded.get("float32")[1])
    if not names:
        pytest.skip("the default config quantized no Linear of the tiny model")
    name = data.draw(st.sampled_from(names), label="module")
    tokens = data.draw(st.sampled_from(INPUT_TOKENS), label="tokens")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    problems, gaps = [], {}
    for dtype, kind, scale in itertools.product(DTYPES, INPUT_KINDS, INPUT_SCALES):
        model, weights = loaded.get(dtype)
        module = model.get_submodule(name)
        x = InputCase(tokens, kind, scale, seed).make(weights[name].shape[1], DTYPES[dtype], device)
        with torch.no_grad():
            y = module(x)
        bias = None if getattr(module, "bias", None) is None else module.bias.detach().double()
        expected = torch.nn.functional.linear(x.double(), weights[name].double(), bias)
        where = f"{dtype}, {kind} inputs x{scale}"
        if bool((expected.abs() < torch.finfo(DTYPES[dtype]).max / 4).all()) and not bool(torch.isfinite(y).all()):
            problems.append(
                f"{where}: finite input gave NaN or inf output (largest exact |y| {expected.abs().max():.3g})"
            )
            continue
        gap, bound = rel_frobenius(expected, y), forward_bound(target.spec, DTYPES[dtype])
        key = f"forward_rel_error_{dtype}"
        gaps[key] = max(gaps.get(key, 0.0), gap)
        if gap > bound:
            problems.append(f"{where}: {gap:.3g} (relative) from the dequantized matmul, bound {bound:.3g}")
    worst(**gaps)
    expect(not problems, f"{name}: the quantized forward disagrees with the dequantized weight", problems)


# --- 4. end to end ---------------------------------------------------------------------------


@pytest.mark.qconform_backend
def test_logits_drift_vs_full_precision(target, device, arch, measure):
    """A tiny model's logits against full precision: the drift (relative Frobenius) within the spec's
    ``logits_drift`` (twice its ``rel_error`` where it declares none), recorded with top-1 agreement."""
    config = build(target.spec.inputs.default_config, target.spec)
    model = lifecycle.load(target.spec, config, device, arch)
    quantized = lifecycle.logits(model, arch)
    reference = lifecycle.reference_logits(arch, device)
    expect(bool(torch.isfinite(quantized).all()), "quantized logits hold NaN or inf")
    drift = rel_frobenius(reference, quantized)
    agreement = float((reference.argmax(-1) == quantized.argmax(-1)).float().mean())
    bound = drift_bound(target.spec, config)
    measure(logits_drift=drift, top1_agreement=agreement, bound=bound)
    expect(drift <= bound, f"logits drift {drift:.4g} from full precision exceeds {bound:.4g}")


# --- 5. across devices -----------------------------------------------------------------------


@pytest.mark.qconform_requires("deterministic")
@one_failure
@given(data=st.data())
def test_packed_data_same_on_cpu_and_cuda(target, accelerator, data, worst):
    """The codec on the accelerator stores what it stores on the CPU, as the spec promises across devices
    (``Tolerances.across_devices``): the same values, or rounding differences only, or the same quality for a
    searching method. Mismatches are recorded with counts and the largest difference. One record per target."""
    codec = codec_of(target.spec)
    require_support(codec, target.spec, ["cpu", accelerator])
    config = draw_config(data, target.spec)
    level = target.spec.promises.tolerances.across_devices.level
    found: list[Mismatch] = []
    lines, shares = [], [0.0]
    for case in draw_weights(data, supported([(codec, config)], ["cpu", accelerator])):
        weight = case.make("cpu")
        on_cpu = codec.quantize(weight, config)
        on_device = {k: v.cpu() for k, v in codec.quantize(weight.to(accelerator), config).items()}
        shape, dtype = tuple(weight.shape), weight.dtype
        dequantized = (
            codec.dequantize(on_cpu, config, shape, dtype),
            codec.dequantize(on_device, config, shape, dtype),
        )
        result = disagreement(level, weight, (on_cpu, on_device), dequantized, rel_error_bound(target.spec, config))
        found += result.mismatches
        shares.append(result.figures()["gap_share_of_error"])
        lines += [f"{case.shape} {case.dtype}: {line}" for line in result.lines]
    worst(**summary(found), gap_share_of_error=max(shares))
    expect(not lines, f"quantization on {accelerator} differs from the CPU's beyond the promise '{level}'", lines)


# --- 6. finite in, finite out ----------------------------------------------------------------


@twice
@given(data=st.data())
def test_finite_weights_give_finite_results(target, device, data):
    """No finite weight dequantizes to NaN or inf (the stored tensors are listed when one does): each example
    tries every distribution (all-zero rows and blocks, constant blocks, outliers, heavy tails) at the drawn
    magnitude and at both extremes (tiny, huge), for the drawn config, shape, dtype and seed."""
    codec = codec_of(target.spec)
    require_support(codec, target.spec, [device])
    config = draw_config(data, target.spec)
    case = draw_weight(data, supported([(codec, config)], [device]))
    bad = []
    for kind, scale in itertools.product(KINDS, dict.fromkeys((case.scale, *EXTREME_SCALES))):
        weight = dataclasses.replace(case, kind=kind, scale=scale).make(device)
        stored, approx = roundtrip(codec, weight, config)
        if non_finite({"dequantized weight": approx}):
            # stored tensors are named for the diagnosis only: packed codes may live in float containers
            bad += [f"{kind}, {scale}: {line}" for line in non_finite({"dequantized weight": approx, **stored})]
    if bad:
        fail("a finite weight dequantizes to NaN or inf", bad)
