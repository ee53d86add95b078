"""Lifecycle: what ``from_pretrained`` with a quantization config does to a model, and what survives.

On tiny models of two architectures (an untied Llama, an OPT with tied embeddings and biases):
exactly the right Linear modules are quantized (skip lists, ``_keep_in_fp32_modules``, the output
embedding); the model is marked quantized; it runs, deterministically; ``is_serializable()`` says what
the spec declares, and ``save_pretrained`` then ``from_pretrained`` gives the same outputs bit for bit,
or saving is refused where the spec declares the method not serializable; ``dequantize()`` gives a
plain model with the same outputs; where the method claims to be trainable, gradients through the
quantized layers are finite. Every check takes its model from ``qconform.support.lifecycle.load``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from qconform.inputs.configs import argument_changes, build, draw_built, stored_arguments, unsaved_loading_attributes
from qconform.inputs.tiny_models import sample_input_ids
from qconform.support import lifecycle, outcomes
from qconform.support.assertions import expect, fail
from qconform.support.lifecycle import FULL, KEEP_IN_FP32, QUANTIZED
from qconform.support.metrics import drift_bound, mismatch, rel_frobenius
from qconform.support.outcomes import NOT_APPLICABLE

# hypothesis' explain phase re-runs a failing example many times to point at lines: too dear here
NO_EXPLAIN = tuple(p for p in Phase if p is not Phase.explain)
# every example loads a model: a third of the profile's examples (quick 3, ci 8, thorough 66), and one
# failure reported (shrinking a second one costs a model load per step)
model_examples = settings(
    max_examples=max(3, settings.default.max_examples // 3), report_multiple_bugs=False, phases=NO_EXPLAIN
)


def _needs_on_the_fly(spec) -> None:
    if not lifecycle.on_the_fly(spec):
        pytest.skip(f"{spec.method} loads pre-quantized checkpoints here: what is quantized is the checkpoint's choice")


def _default_config(spec):
    return build(spec.inputs.default_config, spec)


def _load_default(target, device, arch):
    return lifecycle.load(target.spec, _default_config(target.spec), device, arch)


def skip_list_choices(arch: str) -> st.SearchStrategy[list[str]]:
    """A few names of this model's modules: short suffixes ("q_proj", "lm_head"; the simplest example
    is one suffix) and qualified prefixes ("model.layers.1", "model.layers.0.self_attn"). No list
    at all is the default config's case, which test_output_embedding_stays_full_precision covers."""
    names = lifecycle.linear_names(arch)
    suffixes = sorted({n.rsplit(".", 1)[-1] for n in names})
    parents = {n.rsplit(".", 1)[0] for n in names if "." in n}
    prefixes = sorted(parents | {p.rsplit(".", 1)[0] for p in parents if "." in p})
    return st.lists(st.sampled_from(suffixes + prefixes), unique=True, min_size=1, max_size=3)


def _check_states(model, arch, expected_full: set[str], either: set[str], what: str) -> None:
    __tracebackhide__ = True
    wrong = []
    for name, state in lifecycle.states(model, arch).items():
        if name in either:  # judged by what the model computes (the caller bounds the logits' drift)
            continue
        want = FULL if name in expected_full else QUANTIZED
        if state != want:
            wrong.append(f"{name}: {state}, expected {want}")
    expect(not wrong, f"{what}: the wrong modules were quantized", wrong)


def _state_differences(before: dict, after: dict) -> list[str]:
    """What changed in the state dict through save and reload (for the failure's details)."""
    lines = [f"not reloaded: {k}" for k in sorted(set(before) - set(after))]
    lines += [f"appeared on reload: {k}" for k in sorted(set(after) - set(before))]
    for key in sorted(set(before) & set(after)):
        try:
            found = mismatch(key, before[key], after[key])
        except Exception as exc:  # tensor subclasses (torchao) may not support a bitwise view
            found = None if torch.equal(before[key], after[key]) else f"{key}: differs ({type(exc).__name__})"
        if found is not None:
            lines.append(found if isinstance(found, str) else found.line)
    return lines


def _forward_finite(model, arch) -> torch.Tensor:
    __tracebackhide__ = True
    try:
        logits = lifecycle.logits(model, arch)
    except Exception as exc:
        fail("forward failed", [f"{type(exc).__name__}: {exc}"])
    expect(bool(torch.isfinite(logits).all()), "forward gave NaN or inf logits", [f"logits: {logits.flatten()[:6]}"])
    return logits


@pytest.mark.qconform_backend
@pytest.mark.qconform_requires("quantizes_on_the_fly")
@model_examples
@given(data=st.data())
def test_skip_list_respected(target, device, arch, data):
    """Listed modules stay full precision, every other Linear is quantized, and the model still computes
    (logits within the spec's drift bound of full precision). Transformers' rule: an explicit list
    replaces the default skips, so an unlisted output embedding may go either way, as long as the
    model's logits stay right (a tied one cannot be quantized without breaking the input embedding)."""
    spec = target.spec
    _needs_on_the_fly(spec)
    if spec.inputs.skip_field is None:
        pytest.skip(f"{target.key} declares no skip-list field (spec skip_field=None)")
    config = _default_config(spec)  # other fields can change what is eligible (bnb's fp32 cpu offload)
    skip = data.draw(skip_list_choices(arch), label=spec.inputs.skip_field)
    setattr(config, spec.inputs.skip_field, skip)
    model = lifecycle.load(spec, config, device, arch)
    head = lifecycle.output_embedding_name(arch)
    expected_full = {n for n in lifecycle.linear_names(arch) if lifecycle.skipped_by(n, skip)}
    either = set() if head in expected_full else {head}
    _check_states(model, arch, expected_full, either, f"{spec.inputs.skip_field}={skip!r} on {arch}")
    drift = rel_frobenius(lifecycle.reference_logits(arch, device), _forward_finite(model, arch))
    bound = drift_bound(spec, config)
    states = {n: lifecycle.state_of(model, n) for n in sorted(either)}
    expect(
        drift <= bound,
        f"with {spec.inputs.skip_field}={skip!r} the logits drift {drift:.3g} from full precision",
        [f"bound {bound:.3g} (the spec's logits drift bound); unlisted output embedding: {states}"],
    )


@pytest.mark.qconform_backend
def test_output_embedding_stays_full_precision(target, device, arch):
    """With the default config the output embedding is not quantized, and a tied one stays tied."""
    model = _load_default(target, device, arch)
    head = lifecycle.output_embedding_name(arch)
    state = lifecycle.state_of(model, head)
    expect(state == FULL, f"the output embedding {head!r} is {state}, not full precision")
    if model.config.tie_word_embeddings:
        out_w, in_w = model.get_output_embeddings().weight, model.get_input_embeddings().weight
        expect(out_w is in_w or out_w.data_ptr() == in_w.data_ptr(), "the tied output embedding was untied")


@pytest.mark.qconform_backend
@pytest.mark.qconform_requires("quantizes_on_the_fly")
def test_keep_in_fp32_modules_stay_full_precision(target, device, arch):
    """Modules a model class lists in ``_keep_in_fp32_modules`` are not quantized, and stay float32
    when the model loads in float16."""
    _needs_on_the_fly(target.spec)
    keep = KEEP_IN_FP32[arch]
    model = lifecycle.load(target.spec, _default_config(target.spec), device, arch, torch.float16, keep_in_fp32=keep)
    kept = [n for n in lifecycle.linear_names(arch) if lifecycle.skipped_by(n, keep)]
    upcast = model.get_input_embeddings().weight.dtype == torch.float16  # unless update_dtype chose another
    wrong = []
    for name in kept:
        state = lifecycle.state_of(model, name)
        if state != FULL:
            wrong.append(f"{name}: {state}")
        elif upcast and model.get_submodule(name).weight.dtype != torch.float32:
            wrong.append(f"{name}: dtype {model.get_submodule(name).weight.dtype}, expected torch.float32")
    expect(not wrong, f"_keep_in_fp32_modules={list(keep)} not honoured", wrong)


def _method(value) -> str:
    """A quant_method as plain text (transformers' QuantizationMethod enum or a string)."""
    return str(getattr(value, "value", value))


@pytest.mark.qconform_backend
def test_postprocess_marks_model(target, device):
    """The loaded model says it is quantized, by which method, with which config."""
    config = _default_config(target.spec)
    model = lifecycle.load(target.spec, config, device, lifecycle.first_arch(target.spec))
    if target.spec.loads_dequantized(device):
        # the fallback hands back a plain model: a half-marked one would send later calls to a missing quantizer
        left = {
            "model.is_quantized": getattr(model, "is_quantized", False),
            "model.hf_quantizer": getattr(model, "hf_quantizer", None),
            "model.config.quantization_config": getattr(model.config, "quantization_config", None),
        }
        marks = [f"{name} is {value!r}" for name, value in left.items() if value not in (None, False)]
        expect(not marks, "a checkpoint loaded with dequantize=True still carries quantization marks", marks)
        return
    wanted = _method(config.quant_method)
    problems = []
    if getattr(model, "is_quantized", False) is not True:
        problems.append(f"model.is_quantized is {getattr(model, 'is_quantized', '<absent>')!r}")
    if _method(getattr(model, "quantization_method", None)) != wanted:
        problems.append(f"model.quantization_method is {getattr(model, 'quantization_method', None)!r}, not {wanted!r}")
    saved = getattr(model.config, "quantization_config", None)
    saved_method = saved.get("quant_method") if isinstance(saved, dict) else getattr(saved, "quant_method", None)
    if saved is None or _method(saved_method) != wanted:
        problems.append(
            f"model.config.quantization_config is {type(saved).__name__} with quant_method {saved_method!r}"
        )
    quantizer = getattr(model, "hf_quantizer", None)
    if not isinstance(quantizer, target.quantizer_class):
        problems.append(f"model.hf_quantizer is {type(quantizer).__name__}, not {target.quantizer_class.__name__}")
    expect(not problems, "the loaded model is not marked as quantized by its method", problems)


@pytest.mark.qconform_backend
def test_forward_runs_deterministically(target, device, arch):
    """Forward gives finite logits of the right shape; where the spec declares the method
    deterministic, running it again gives the same logits bit for bit."""
    model = _load_default(target, device, arch)
    first = _forward_finite(model, arch)
    vocab = model.config.vocab_size
    expect(first.shape[-1] == vocab, f"logits have {first.shape[-1]} columns for a vocabulary of {vocab}")
    if target.spec.promises.capabilities.deterministic:
        second = lifecycle.logits(model, arch)
        diff = mismatch("logits", first, second)
        expect(diff is None, "a second forward on the same input gave different logits", [diff.line] if diff else [])


@pytest.mark.qconform_backend
def test_is_serializable_agrees_with_spec(target, device):
    """The quantizer's ``is_serializable()`` says what the spec declares."""
    if target.spec.loads_dequantized(device):
        pytest.skip(
            outcomes.reason(NOT_APPLICABLE, f"{target.key} loads dequantized on {device}: no quantizer on the model")
        )
    model = _load_default(target, device, lifecycle.first_arch(target.spec))
    said = bool(model.hf_quantizer.is_serializable())
    declared = target.spec.promises.capabilities.serializable
    expect(said == declared, f"is_serializable() returns {said}, the spec declares serializable={declared}")


@pytest.mark.qconform_backend
@pytest.mark.qconform_requires("serializable")
def test_save_reload_bit_identical(target, device, arch, tmp_path):
    """After a forward (as in real use), save_pretrained then from_pretrained gives the same logits."""
    model = _load_default(target, device, arch)
    before = _forward_finite(model, arch)
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}
    model.save_pretrained(tmp_path)
    again = lifecycle.reload(tmp_path, device)
    after = _forward_finite(again, arch)
    diff = mismatch("logits", before, after)
    lines = _state_differences(state, again.state_dict()) if diff else []
    expect(diff is None, f"reloaded {arch} model gives different logits", [diff.line if diff else "", *lines])


# config fields transformers' own quantizers fill in while loading, so a reloaded config may hold another value
FILLED_BY_CONTRACT = {
    # the skip list completed with what must stay full precision (fp8 remaps it in validate_environment:
    # quantizers/quantizer_finegrained_fp8.py "self.quantization_config.modules_to_not_convert = remapped")
    "modules_to_not_convert": "completed with the modules the quantizer must leave alone",
    # a checkpoint loaded where its kernels cannot run is dequantized: quantizer_finegrained_fp8.py,
    # quantizer_mxfp4.py, quantizer_metal.py, quantizer_gguf.py set "self.quantization_config.dequantize = True"
    "dequantize": "set when a checkpoint loads where its kernels cannot run",
    # quantizer_gptq.py: "self.quantization_config.tokenizer = model.name_or_path"
    "tokenizer": "GPTQ records the model's path as its calibration tokenizer",
    # quantizers/auto.py: "quantization_config.gguf_file = gguf_file"
    "gguf_file": "the dispatch records the GGUF file it read",
}


@pytest.mark.qconform_backend
@pytest.mark.qconform_requires("quantizes_on_the_fly", "serializable")
@model_examples
@given(data=st.data())
def test_saved_config_keeps_every_argument(target, device, data):
    """A model quantized with a config built from drawn arguments, saved and reloaded, carries a
    ``quantization_config`` that still holds each argument, attribute by attribute (fields the quantizer fills
    in by contract, ``FILLED_BY_CONTRACT``, and loading attributes to_dict leaves out aside)."""
    spec = target.spec
    _needs_on_the_fly(spec)
    built = draw_built(data, spec)
    passed = stored_arguments(built.config)  # before loading: the quantizer may write into the config object
    exempt = (*FILLED_BY_CONTRACT, *unsaved_loading_attributes(spec, built.config))
    model = lifecycle.load(spec, built.config, device, lifecycle.first_arch(spec))
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        again = lifecycle.reload(Path(tmp), device)
    saved = again.config.quantization_config
    expect(not isinstance(saved, dict), f"the reloaded quantization_config is a plain dict, not a config: {saved}")
    changes = argument_changes(passed, saved, ignore=exempt)
    shown = ", ".join(f"{k}={v!r}" for k, v in built.arguments.items())
    expect(
        not changes,
        "save_pretrained then from_pretrained lost or changed config arguments",
        changes,
        hint=f"built with {shown}",
    )


@pytest.mark.qconform_backend
def test_save_refused_when_not_serializable(target, device):
    """Where the spec declares the method not serializable, save_pretrained raises and writes no weights
    (a quantizer that claims otherwise writes checkpoints that do not load back)."""
    if target.spec.promises.capabilities.serializable:
        pytest.skip(f"{target.key} declares serializable (test_save_reload_bit_identical applies)")
    model = _load_default(target, device, lifecycle.first_arch(target.spec))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            model.save_pretrained(tmp)
        except Exception as exc:
            written = sorted(p.name for p in Path(tmp).glob("*.safetensors"))
            expect(not written, "save_pretrained raised but left weight files behind", written)
            expect(bool(str(exc).strip()), f"save_pretrained refused with an empty {type(exc).__name__}")
            return
        written = sorted(p.name for p in Path(tmp).iterdir())
    fail("the spec declares the method not serializable, yet save_pretrained wrote a checkpoint", written)


def dequantize_bound(spec, dtype: torch.dtype) -> float:
    """How far a dequantized model's logits may be from the quantized one's: twice the spec's forward
    bound (each layer's gap adds up in the logits), else the model dtype's rounding."""
    if spec.promises.tolerances.forward_rel_error is not None:
        return 2 * spec.promises.tolerances.forward_rel_error
    return max(16 * torch.finfo(dtype).eps, 1e-5)


@pytest.mark.qconform_backend
@pytest.mark.qconform_requires("dequantizable")
def test_dequantize_matches_quantized(target, device, arch, measure):
    """``model.dequantize()`` leaves plain Linear modules and the same logits, within the spec's bound."""
    model = _load_default(target, device, arch)
    quantized = _forward_finite(model, arch)
    try:
        model.dequantize()
    except Exception as exc:
        fail("model.dequantize() raised", [f"{type(exc).__name__}: {exc}"])
    left = [f"{n}: {s}" for n, s in lifecycle.states(model, arch).items() if s != FULL]
    expect(not left, "dequantize() left modules that are not plain full-precision Linear", left)
    expect(not getattr(model, "is_quantized", False), "model.is_quantized is still True after dequantize()")
    plain = _forward_finite(model, arch)
    gap = rel_frobenius(quantized, plain)
    bound = dequantize_bound(target.spec, model.dtype)
    measure(dequantize_logits_rel_error=gap, bound=bound)
    expect(gap <= bound, f"dequantized logits differ from quantized ones by {gap:.3g} (relative), bound {bound:.3g}")


@pytest.mark.qconform_backend
@pytest.mark.qconform_requires("trainable")
def test_backward_gives_finite_gradients(target, device, arch):
    """A training step's loss and every trainable parameter's gradient are finite, and a gradient crosses
    the quantized layers back to the input embedding's output."""
    model = _load_default(target, device, arch)
    if not model.hf_quantizer.is_trainable:
        fail("the spec declares the method trainable but hf_quantizer.is_trainable is False")
    model.train()
    trainable = lifecycle.trainable_parameters(model)
    expect(bool(trainable), "the quantized model has no trainable floating-point parameter")
    embedded = {}

    def keep_output(module, args, output):
        if output.requires_grad:
            output.retain_grad()
        embedded["output"] = output

    handle = model.get_input_embeddings().register_forward_hook(keep_output)
    try:
        ids = sample_input_ids(arch).to(model.device)
        loss = model(ids, labels=ids).loss
    finally:
        handle.remove()
    expect(bool(torch.isfinite(loss)), f"the loss is not finite: {loss.item()}")
    loss.backward()
    bad = [n for n, p in trainable.items() if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
    expect(not bad, "backward gave non-finite gradients", bad)
    grad = embedded["output"].grad
    expect(
        grad is not None and bool(torch.isfinite(grad).all()) and bool(grad.abs().sum() > 0),
        "no finite, non-zero gradient crossed the quantized layers back to the input embedding's output",
    )
