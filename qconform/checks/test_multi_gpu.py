"""Multi-GPU: a tiny model split over two GPUs by ``device_map="auto"`` gives the outputs of one GPU.

The budgets (``max_memory``) are computed from the quantized model's own size estimate so that
accelerate must place layers on both GPUs. Then: every module sits where the map says, the stored
(quantized) tensors are the same bytes on either placement, and the logits equal those of the model
on one GPU (bit for bit where the spec declares the method deterministic, else within its forward
tolerance). Runs on the ``cuda`` variant of machines with two or more CUDA devices; elsewhere it is
skipped with that reason. Placement under budgets without GPUs is checked in ``test_device_map``.
"""

from __future__ import annotations

import pytest
import torch

from qconform import lifecycle
from qconform.assertions import expect, fail
from qconform.configs import build
from qconform.lifecycle import ARCHITECTURES
from qconform.numerics import compare_stored, rel_frobenius, summary

per_arch = pytest.mark.parametrize("arch", ARCHITECTURES)


def _two_gpus(device: str) -> None:
    if device != "cuda":
        pytest.skip("compares two CUDA devices with one: runs on the cuda variant")
    count = torch.cuda.device_count()
    if count < 2:
        pytest.skip(f"needs two CUDA devices; this machine has {count}")


def split_budgets(target, config, pre_quantized: bool, arch: str) -> dict:
    """max_memory under which accelerate's plan for this quantized model uses both GPUs.

    Planned on the meta model after ``preprocess_model`` (no GPU needed): the first GPU gets the
    smallest share of the estimated size, in steps of a tenth, that puts a decoder layer on each GPU,
    or else that uses both GPUs at all.
    """
    from transformers.integrations.accelerate import _get_device_map, compute_module_sizes

    from qconform.contract import meta_model, quantizer

    hf_quantizer = quantizer(target, config, pre_quantized)
    model = meta_model(arch)
    hf_quantizer.preprocess_model(model=model, dtype=torch.float32, device_map="auto", checkpoint_files=None)
    total = int(compute_module_sizes(model, hf_quantizer)[0][""])
    plans = []
    for tenth in range(3, 10):
        budgets = {0: total * tenth // 10, 1: total * 4, "cpu": 0}
        with lifecycle.quiet():
            plan = _get_device_map(model, "auto", dict(budgets), hf_quantizer)
        plans.append((budgets, plan))
    layers_on_both = [b for b, plan in plans if {d for n, d in plan.items() if ".layers" in n} >= {0, 1}]
    both_used = [b for b, plan in plans if set(plan.values()) >= {0, 1}]
    # tied embeddings must share a device, which can leave all decoder layers on one GPU: then any split
    return (layers_on_both or both_used or [{0: total // 2, 1: total * 4, "cpu": 0}])[0]


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
@per_arch
def test_split_over_two_gpus_matches_one(target, device, arch, measure):
    _two_gpus(device)
    spec = target.spec
    config = build(spec.default_config, spec)
    path, pre_quantized = lifecycle.checkpoint_for(spec, config, arch)
    kwargs = {} if pre_quantized else {"quantization_config": config}
    with lifecycle.quiet():
        one = lifecycle.model_class(arch).from_pretrained(path, device_map={"": "cuda:0"}, **kwargs).eval()
        budgets = split_budgets(target, config, pre_quantized, arch)
        two = lifecycle.model_class(arch).from_pretrained(path, device_map="auto", max_memory=budgets, **kwargs).eval()
    used = {str(d) for d in two.hf_device_map.values()}
    measure(devices_used=len(used), budget_gpu0_bytes=budgets[0])
    expect(
        used >= {"0", "1"},
        "max_memory budgets meant to force a split over two GPUs did not",
        [f"map {two.hf_device_map}"],
    )

    expected = map_devices(two)
    actual = placed_on(two)
    wrong = [
        f"{n}: on {actual[n]}, the map says {expected[n]}" for n in actual if n in expected and actual[n] != expected[n]
    ]
    expect(not wrong, "modules do not sit where the device map puts them", wrong)

    mismatches = compare_stored(
        {k: v.cpu() for k, v in one.state_dict().items()}, {k: v.cpu() for k, v in two.state_dict().items()}
    )
    measure(**{f"stored_{k}": v for k, v in summary(mismatches).items()})
    expect(not mismatches, "the stored tensors differ between one GPU and two", [m.line for m in mismatches])

    logits_one, logits_two = lifecycle.logits(one, arch), lifecycle.logits(two, arch)
    gap = rel_frobenius(logits_one, logits_two)
    measure(logits_rel_gap=gap)
    if spec.capabilities.deterministic:
        if not torch.equal(logits_one, logits_two):
            fail(
                "logits on two GPUs differ from one GPU (the spec declares the method deterministic)",
                [f"relative gap {gap:.3g}"],
            )
    else:
        bound = spec.tolerances.forward_rel_error or 1e-3
        expect(
            gap <= bound,
            "logits on two GPUs differ from one GPU beyond the forward tolerance",
            [f"{gap:.3g} > {bound:.3g}"],
        )
