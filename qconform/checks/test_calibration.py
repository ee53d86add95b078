"""Calibration: a method that quantizes inside ``from_pretrained`` on texts, against its twin on the same tokens.

transformers' GPTQ quantizes while loading when its config carries a dataset and a tokenizer
(``quantizers/quantizer_gptq.py``, ``_process_model_after_weight_loading``: optimum's ``GPTQQuantizer.quantize_model``
tokenizes each text with ``tokenizer(text, return_tensors="pt")`` and runs gptqmodel's GPTQ block by block). The
other checks load GPTQ pre-quantized (written by the twin); these drive the calibration path itself, offline: the
shipped sentences and a word-level tokenizer trained on them (``qconform.inputs.calibration_text``). Which methods
have the path is data: the spec's ``Inputs.calibration_fields`` (the config's dataset and tokenizer fields), or,
left unset, probed (a config taking ``dataset`` and ``tokenizer`` for a quantizer that does not require
calibration: ``qconform.discovery.probe.calibration_path``). Weights are read back through the spec's codec, or
with none (a quantizer registered bare) through ``dequantize()`` of a copy of the calibrated model.

- ``test_calibration_quantizes_while_loading``: the calibrated model loads, holds quantized Linears, reports its
  method in ``config.quantization_config``, gives finite logits, and each quantized weight (read back through the
  spec's codec) is within the spec's relative error bound of the full-precision one.
- ``test_calibration_matches_twin``: the reference twin quantizes the same model on the same token ids (the texts
  tokenized as optimum tokenizes them) through its own ``from_pretrained``; both quantize the same Linears, and
  each layer's error against full precision is within a search-level margin of the twin's:
  ``real <= (1 + SEARCH_SHARE) * twin + FLOOR_SHARE * bound``. GPTQ is a search with error feedback: one code
  rounded otherwise (another float path to the same Hessian: optimum's cached block inputs against the twin's
  whole forward, another accumulation order, a GPU) sends the later columns elsewhere, so only the quality is
  promised, as across devices (``specs.model.SEARCH_SHARE``). How far the two agree is measured and recorded:
  the share of equal dequantized elements and of equal stored elements per tensor name (codes, scales, zeros).
  Measured on the CPU (gptqmodel 7.6.0, optimum 2.3.0, transformers 5.25): bit-exact on tiny Llama and OPT,
  every layer (ratio 1.000, all elements equal).

AWQ has no calibration path in transformers 5.25: ``AwqQuantizer.requires_calibration = True``
(``quantizers/quantizer_awq.py:42``), so ``HfQuantizer.__init__`` refuses a full-precision load
(``quantizers/base.py:93-94``: "The quantization method QuantizationMethod.AWQ does require the model to be
pre-quantized. ..." , measured with ``AwqConfig(bits=4, dataset=[...])``, which ``AwqConfig`` accepts through
``GPTQConfig``'s keyword arguments and ignores), and ``AwqConfig``'s docstring says so
(``utils/quantization_config.py:816``: "Note you cannot quantize directly with transformers"). Its spec declares
no ``calibration_fields``, and the probe finds none (``requires_calibration``): both checks skip it as not
applicable.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from qconform.discovery.targets import Target
from qconform.inputs.calibration_text import calibration_texts, tiny_tokenizer, token_ids
from qconform.inputs.configs import build
from qconform.inputs.tiny_models import tiny_checkpoint, tiny_config
from qconform.specs.model import FLOOR_SHARE, SEARCH_SHARE
from qconform.support import lifecycle, outcomes, trial
from qconform.support.assertions import expect
from qconform.support.codecs import codec_of, twin_pair
from qconform.support.lifecycle import ARCHITECTURES, QUANTIZED
from qconform.support.metrics import rel_error_bound, rel_frobenius
from qconform.support.outcomes import NOT_APPLICABLE
from qconform.support.quiet import quiet

per_arch = pytest.mark.parametrize("arch", ARCHITECTURES)


@dataclass
class Calibrated:
    """One model quantized while loading: what it reports, and its quantized Linears read before any forward
    (CPU kernels repack their tensors in place on the first one)."""

    model: Any
    config: Any  # the model's own ``config.quantization_config``
    stored: dict[str, dict[str, torch.Tensor]]  # per quantized Linear, its tensors (bias aside)
    weights: dict[str, torch.Tensor]  # per quantized Linear, dequantized through the spec's codec


def calibration_fields(target: Target) -> tuple[str, str]:
    """The config's (dataset, tokenizer) fields, or a skip: the spec declares no calibration path."""
    fields = target.spec.inputs.calibration_fields
    if not fields:
        outcomes.skip(
            NOT_APPLICABLE,
            f"{target.key} has no calibration path in from_pretrained (spec calibration_fields, declared or probed)",
        )
    return fields


def texts() -> list[str]:
    """Every shipped sentence (30, 272 tokens: about one per input column of the widest tiny Linear, 256, which
    the damping makes enough), one per forward as optimum feeds them."""
    return list(calibration_texts())


def _with(config: Any, values: dict[str, Any]) -> Any:
    """A copy of ``config`` with ``values`` set, validated again (``post_init``) where the class validates."""
    config = copy.deepcopy(config)
    for name, value in values.items():
        setattr(config, name, value)
    if hasattr(config, "post_init"):
        config.post_init()
    return config


def _load(spec, config: Any, device: str, arch: str) -> Any:
    """``from_pretrained`` of the full-precision tiny checkpoint with ``config``: a refusal at validation is a skip
    quoting it (a backend missing here, a device the quantizer refuses), anything later stays a failure."""
    from transformers import AutoConfig
    from transformers.quantizers.auto import get_hf_quantizer

    path = tiny_checkpoint(arch)
    try:
        with quiet():
            get_hf_quantizer(AutoConfig.from_pretrained(path), copy.deepcopy(config), {"": device}, True, {})
    except Exception as exc:
        pytest.skip(f"tried on {device}: {trial.classify(exc, spec)}")
    with quiet():
        return lifecycle.model_class(arch).from_pretrained(path, quantization_config=config, device_map={"": device})


def _read(spec, model: Any, arch: str) -> Calibrated:
    config = model.config.quantization_config
    names = [n for n, s in lifecycle.states(model, arch).items() if s == QUANTIZED]
    stored = {
        name: {k: v.detach().clone() for k, v in model.get_submodule(name).state_dict().items() if k != "bias"}
        for name in names
    }
    if spec.oracles.codec is None:
        return Calibrated(model.eval(), config, stored, _dequantized(spec, model, names))
    codec = codec_of(spec)
    weights = {}
    for name in names:
        module = model.get_submodule(name)
        shape = (module.out_features, module.in_features)
        weights[name] = codec.dequantize(stored[name], config, shape, torch.float32).float()
    return Calibrated(model.eval(), config, stored, weights)


def _dequantized(spec, model: Any, names: list[str]) -> dict[str, torch.Tensor]:
    """The quantized Linears' weights as ``dequantize()`` gives them back, from a copy (the model itself stays
    quantized for the forward); a skip where the method cannot dequantize."""
    if not spec.promises.capabilities.dequantizable:
        pytest.skip(f"{spec.method} names no codec and cannot dequantize: its calibrated weights cannot be read")
    plain = copy.deepcopy(model)
    with quiet():
        plain.dequantize(dtype=torch.float32)
    return {name: plain.get_submodule(name).weight.detach().float() for name in names}


_CACHE: dict[tuple[str, str, str], Calibrated] = {}  # both checks read the same calibrated model


def calibrated(target: Target, device: str, arch: str) -> Calibrated:
    """The target's tiny ``arch`` model quantized while loading on the shipped texts (once per process)."""
    key = (target.key, device, arch)
    if key not in _CACHE:
        spec = target.spec
        dataset, tokenizer = calibration_fields(target)
        requested = build(spec.inputs.default_config, spec)
        overrides = spec.inputs.loading_overrides.get(device.split(":")[0], {})
        tok = tiny_tokenizer(tiny_config(arch).vocab_size)
        config = _with(requested, {**overrides, dataset: texts(), tokenizer: tok})
        _CACHE[key] = _read(spec, _load(spec, config, device, arch), arch)
    return _CACHE[key]


def _errors(weights: dict[str, torch.Tensor], arch: str, device: str) -> dict[str, float]:
    reference = lifecycle.full_precision(arch, device)
    return {n: rel_frobenius(reference.get_submodule(n).weight.detach().float(), w) for n, w in weights.items()}


@pytest.mark.qconform_backend
@per_arch
def test_calibration_quantizes_while_loading(target, device, arch, measure):
    """``from_pretrained`` with the spec's default config, the shipped texts and the tiny tokenizer quantizes the
    model: some Linears are quantized, the model reports its method, its logits are finite, and each quantized
    weight is within the spec's relative error bound of the full-precision one."""
    found = calibrated(target, device, arch)
    method = getattr(found.config, "quant_method", None)
    reported = getattr(method, "value", method)  # an enum member (transformers' methods) or a plain string
    logits = lifecycle.logits(found.model, arch)
    errors = _errors(found.weights, arch, device)
    bound = rel_error_bound(target.spec, found.config)
    measure(modules=len(errors), rel_error=max(errors.values(), default=0.0), bound=bound, samples=len(texts()))
    expect(errors, "calibrating while loading quantized no Linear of the tiny model")
    expect(reported == target.key, f"the calibrated model reports quant_method {reported!r}, not {target.key!r}")
    expect(bool(torch.isfinite(logits).all()), "the calibrated model's logits hold NaN or inf")
    over = [f"{n}: {e:.4g}" for n, e in errors.items() if e > bound]
    expect(not over, f"calibrated weights exceed the relative error bound {bound:.4g}", over)


def _twin(target: Target, twin: Target, found: Calibrated, device: str, arch: str) -> Calibrated:
    """The twin's tiny ``arch`` model quantized while loading on the same texts' token ids, with the config the
    real model reports (so that both store the same format)."""
    dataset, _ = calibration_fields(target)
    codec_of(twin.spec)  # a twin without codec is a skip before a wasted calibration
    ids = [row[0].tolist() for row in token_ids(tiny_tokenizer(tiny_config(arch).vocab_size), texts())]
    base = twin.config_class.from_real(found.config)
    config = twin.config_class(**{**base.to_dict(), dataset: ids})
    return _read(twin.spec, _load(twin.spec, config, device, arch), arch)


def share_equal(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """The share of elements equal in both tensors of each pair, over all pairs."""
    equal = sum(int((a.cpu() == b.cpu()).sum()) for a, b in pairs)
    total = sum(a.numel() for a, _ in pairs)
    return equal / total if total else 0.0


def agreement(real: Calibrated, twin: Calibrated, names: list[str]) -> dict[str, float]:
    """Shares of equal elements: dequantized weights, and each stored tensor name both hold with one shape and dtype
    (packed codes, scales, zero points): a measured figure, not a promise."""
    stored: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for name in names:
        for key, tensor in twin.stored[name].items():
            other = real.stored[name].get(key)
            if other is not None and other.shape == tensor.shape and other.dtype == tensor.dtype:
                stored.setdefault(key, []).append((other, tensor))
    figures = {"equal_dequantized": share_equal([(real.weights[n], twin.weights[n]) for n in names])}
    return figures | {f"equal_stored_{key}": share_equal(pairs) for key, pairs in sorted(stored.items())}


@pytest.mark.qconform_backend
@per_arch
def test_calibration_matches_twin(target, device, arch, measure, all_targets):
    """The reference twin, fed the same texts' token ids, quantizes the same Linears, and each layer's error against
    full precision is the twin's within a search-level margin; agreement of values and stored tensors is
    recorded (see the module docstring for the margin and what was measured)."""
    calibration_fields(target)
    real, twin = twin_pair(target, all_targets)
    found = calibrated(real, device, arch)
    mirror = _twin(real, twin, found, device, arch)
    only_twin = sorted(set(mirror.weights) - set(found.weights))
    only_real = sorted(set(found.weights) - set(mirror.weights))
    both = sorted(set(found.weights) & set(mirror.weights))
    real_errors, twin_errors = _errors(found.weights, arch, device), _errors(mirror.weights, arch, device)
    floor = FLOOR_SHARE * rel_error_bound(target.spec, found.config)
    allowed = {n: (1 + SEARCH_SHARE) * twin_errors[n] + floor for n in both}
    over = [
        f"{n}: error {real_errors[n]:.4g}, twin {twin_errors[n]:.4g} (allowed {allowed[n]:.4g})"
        for n in both
        if real_errors[n] > allowed[n]
    ]
    measure(
        modules=len(both),
        real_rel_error=max((real_errors[n] for n in both), default=0.0),
        twin_rel_error=max((twin_errors[n] for n in both), default=0.0),
        worst_error_ratio=max((real_errors[n] / max(twin_errors[n], 1e-12) for n in both), default=0.0),
        **agreement(found, mirror, both),
    )
    expect(not only_twin, f"{real.key} left in full precision Linears its twin {twin.key} quantized", only_twin)
    expect(not only_real, f"{real.key} quantized Linears its twin {twin.key} left in full precision", only_real)
    margin = f"(1 + {SEARCH_SHARE}) x the twin's + {floor:.3g}"
    expect(not over, f"{real.key}'s calibrated weights are further from full precision than {margin}", over)
