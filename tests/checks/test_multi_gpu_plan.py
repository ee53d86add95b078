"""The multi-GPU check's budgets, planned without GPUs: accelerate puts decoder layers on both devices."""

from __future__ import annotations

import pytest

from qconform.checks.test_multi_gpu import explicit_split, split_budgets
from qconform.discovery.targets import discover
from qconform.inputs.configs import build

TARGETS = ("ref-fp8", "ref-bitsandbytes_4bit", "ref-bitsandbytes_8bit", "ref-hqq", "bitsandbytes_4bit")


@pytest.mark.parametrize("arch", ["llama", "opt"])
@pytest.mark.parametrize("key", TARGETS)
def test_budgets_split_the_decoder_layers_over_two_gpus(key, arch):
    from transformers.integrations.accelerate import _get_device_map

    from qconform.support.contract import meta_model, quantizer

    target = discover().targets[key]
    config = build(target.spec.inputs.default_config, target.spec)
    budgets = split_budgets(target, config, False, arch)
    hf_quantizer = quantizer(target, config, False)
    model = meta_model(arch)
    hf_quantizer.preprocess_model(model=model, dtype=None, device_map="auto", checkpoint_files=None)
    plan = _get_device_map(model, "auto", dict(budgets), hf_quantizer)
    assert set(plan.values()) == {0, 1}, plan
    assert budgets[0] < budgets[1] and budgets["cpu"] == 0


@pytest.mark.parametrize("arch", ["llama", "opt"])
def test_explicit_split_puts_decoder_layers_on_both_gpus(arch):
    from qconform.support.contract import meta_model

    plan = explicit_split(arch)
    model = meta_model(arch)
    names = {module: name for name, module in model.named_modules()}
    assert {d for n, d in plan.items() if ".layers." in n} == {0, 1}
    assert all(any(n == k or n.startswith(k + ".") for k in plan) for n, _ in model.named_parameters()), plan
    if model.config.tie_word_embeddings:
        assert plan[names[model.get_output_embeddings()]] == plan[names[model.get_input_embeddings()]]
