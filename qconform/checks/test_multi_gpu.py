"""Multi-GPU: a tiny model split over two GPUs by ``device_map="auto"`` gives the outputs of one GPU.

The budgets (``max_memory``) are computed from the quantized model's own size estimate so that
accelerate must place layers on both GPUs. Then: every module sits where the map says, the stored
(quantized) tensors are the same bytes on either placement, and the logits equal those of the model
on one GPU (bit for bit where the spec declares the method deterministic, else within its forward
tolerance). Runs where the run covers cuda on a machine with two or more CUDA devices; elsewhere it is
skipped with that reason. Placement under budgets without GPUs is checked in ``test_device_map``.
"""

from __future__ import annotations

import pytest
import torch

from qconform.inputs.configs import build
from qconform.support import lifecycle, outcomes
from qconform.support.assertions import expect, fail
from qconform.support.metrics import compare_stored, plain_tensors, rel_frobenius, summary
from qconform.support.outcomes import NOT_SUPPORTED


@pytest.fixture
def two_gpus(accelerator: str) -> None:
    """Skip unless this run's accelerator, where the target runs, is CUDA with two devices."""
    if accelerator.split(":")[0] != "cuda":
        outcomes.skip(NOT_SUPPORTED, f"compares two CUDA devices with one: this run's accelerator is {accelerator}")
    count = torch.cuda.device_count()
    if count < 2:
        outcomes.skip(NOT_SUPPORTED, f"needs two CUDA devices; this machine has {count}")


def budgets_for(total: int, tenths: int) -> dict:
    """max_memory giving the first GPU ``tenths`` tenths of ``total`` bytes, the second ample room, the CPU none."""
    return {0: total * tenths // 10, 1: total * 4, "cpu": 0}


def split_budgets(target, config, pre_quantized: bool, arch: str) -> dict:
    """max_memory under which accelerate's plan for this quantized model uses both GPUs.

    Planned as ``from_pretrained`` plans (validation, the quantizer's dtype, ``preprocess_model``) on the meta
    model, so no GPU is needed: the first GPU gets the smallest share of the estimated size, in steps of a
    tenth, that puts a decoder layer on each GPU, or else that uses both GPUs at all.
    """
    from transformers.integrations.accelerate import _get_device_map, compute_module_sizes

    from qconform.support.contract import prepared_model

    hf_quantizer, model = prepared_model(target, config, pre_quantized, device_map="auto", arch=arch)
    total = int(compute_module_sizes(model, hf_quantizer)[0][""])
    plans = []
    for tenth in range(3, 10):
        budgets = budgets_for(total, tenth)
        with lifecycle.quiet():
            plan = _get_device_map(model, "auto", dict(budgets), hf_quantizer)
        plans.append((budgets, plan))
    layers_on_both = [b for b, plan in plans if {d for n, d in plan.items() if ".layers" in n} >= {0, 1}]
    both_used = [b for b, plan in plans if set(plan.values()) >= {0, 1}]
    # tied embeddings must share a device, which can leave all decoder layers on one GPU: then any split
    return (layers_on_both or both_used or [budgets_for(total, 5)])[0]


def fallback_budgets(arch: str) -> list[dict]:
    """Budgets from the full-precision size, for a loader whose plan differs from ``split_budgets``'."""
    from transformers.integrations.accelerate import compute_module_sizes

    from qconform.support.contract import meta_model

    total = int(compute_module_sizes(meta_model(arch))[0][""])
    return [budgets_for(total, tenth) for tenth in (3, 5)]


def explicit_split(arch: str) -> dict[str, int]:
    """A device map with the first half of the decoder layers, and what comes before them, on GPU 0 and the
    rest on GPU 1 (a tied output embedding stays with the input embedding): the last resort where no budget
    made ``device_map="auto"`` split (measured: bitnet, ref-bitnet and ref-aqlm under transformers 5.17 loaded
    whole on one GPU under every budget tried)."""
    from qconform.support.contract import meta_model

    model = meta_model(arch)
    layers = next(name for name, module in model.named_modules() if isinstance(module, torch.nn.ModuleList))
    plan: dict[str, int] = {}
    after_layers = False

    def place(prefix: str, module: torch.nn.Module) -> None:
        nonlocal after_layers
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            if full == layers:
                plan.update({f"{full}.{i}": int(i >= max(1, len(child) // 2)) for i in range(len(child))})
                after_layers = True
            elif layers.startswith(full + "."):
                place(full + ".", child)
            else:
                plan[full] = int(after_layers)

    place("", model)
    if model.config.tie_word_embeddings:
        names = {module: name for name, module in model.named_modules()}
        plan[names[model.get_output_embeddings()]] = plan[names[model.get_input_embeddings()]]
    return plan


def load_split(arch: str, path, kwargs: dict, candidates: list[dict]) -> tuple[object, dict, int]:
    """(model, the from_pretrained arguments that split it, attempts): the first candidate under which the model
    uses both GPUs, else the last one tried."""
    tried = 0
    for placement in candidates:
        tried += 1
        with lifecycle.quiet():
            two = lifecycle.model_class(arch).from_pretrained(path, **placement, **kwargs)
        # transformers keeps hf_device_map only for a model dispatched over more than one device
        if len(set(getattr(two, "hf_device_map", {}).values())) > 1:
            break
    return two.eval(), placement, tried


def placed_on(model: torch.nn.Module) -> dict[str, str]:
    """Where each parameter and buffer actually is."""
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    return {name: str(t.device) for name, t in tensors.items()}


def map_devices(model: torch.nn.Module) -> dict[str, str]:
    """Where the model's ``hf_device_map`` says each parameter and buffer should be."""
    from transformers.integrations.accelerate import expand_device_map

    device_map = model.hf_device_map
    names = [*dict(model.named_parameters()), *dict(model.named_buffers())]
    expanded = expand_device_map(device_map, names)
    return {name: str(torch.device(f"cuda:{d}" if isinstance(d, int) else d)) for name, d in expanded.items()}


@pytest.mark.qconform_backend
def test_split_over_two_gpus_matches_one(target, two_gpus, arch, measure):
    spec = target.spec
    config = build(spec.inputs.default_config, spec)
    path, pre_quantized = lifecycle.checkpoint_for(spec, config, arch)
    kwargs = lifecycle.quantization_kwargs(spec, config, "cuda", pre_quantized) | lifecycle.file_kwargs(path)
    with lifecycle.quiet():
        one = lifecycle.model_class(arch).from_pretrained(path, device_map={"": "cuda:0"}, **kwargs).eval()
        planned = split_budgets(target, kwargs.get("quantization_config", config), pre_quantized, arch)
    candidates = [{"device_map": "auto", "max_memory": b} for b in [planned, *fallback_budgets(arch)]]
    two, placement, attempts = load_split(arch, path, kwargs, [*candidates, {"device_map": explicit_split(arch)}])
    used = {str(d) for d in getattr(two, "hf_device_map", {"": two.device.index}).values()}
    measure(devices_used=len(used), placement_attempts=attempts, split_by=str(placement.get("max_memory", "map")))
    expect(
        used >= {"0", "1"},
        "neither max_memory budgets nor an explicit device map split the model over two GPUs",
        [f"tried {attempts} placements; the model sits on {', '.join(sorted(used))}"],
    )

    expected = map_devices(two)
    actual = placed_on(two)
    wrong = [
        f"{n}: on {actual[n]}, the map says {expected[n]}" for n in actual if n in expected and actual[n] != expected[n]
    ]
    expect(not wrong, "modules do not sit where the device map puts them", wrong)

    stored_one, stored_two = (plain_tensors(model.state_dict()) for model in (one, two))
    mismatches = compare_stored(
        {k: v.cpu() for k, v in stored_one.items()}, {k: v.cpu() for k, v in stored_two.items()}
    )
    measure(**{f"stored_{k}": v for k, v in summary(mismatches).items()})
    expect(not mismatches, "the stored tensors differ between one GPU and two", [m.line for m in mismatches])

    logits_one, logits_two = lifecycle.logits(one, arch), lifecycle.logits(two, arch)
    gap = rel_frobenius(logits_one, logits_two)
    measure(logits_rel_gap=gap)
    if spec.promises.capabilities.deterministic:
        if not torch.equal(logits_one, logits_two):
            fail(
                "logits on two GPUs differ from one GPU (the spec declares the method deterministic)",
                [f"relative gap {gap:.3g}"],
            )
    else:
        bound = spec.promises.tolerances.forward_rel_error or 1e-3
        expect(
            gap <= bound,
            "logits on two GPUs differ from one GPU beyond the forward tolerance",
            [f"{gap:.3g} > {bound:.3g}"],
        )
