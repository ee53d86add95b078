"""AutoRound: calibrated checkpoints loaded through the auto-round package (``quantizer_auto_round.py``)."""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.specs._common import MERGE_MUTATES_CHECKPOINT_OBJECT
from qconform.specs.model import (
    Capabilities,
    Inputs,
    InvalidConfig,
    KnownDeviation,
    Promises,
    QuantizerSpec,
    Requirement,
)

CPU_RUN = (
    "qconform CPU run 2026-12-06 (transformers 5.25, torch 2.13 CPU)"  # the run that showed the deviations citing it
)


def _config(**kwargs):
    from transformers import AutoRoundConfig

    return AutoRoundConfig(**kwargs)


def configs() -> st.SearchStrategy:
    return st.builds(
        _config,
        bits=st.sampled_from([2, 3, 4, 8]),
        group_size=st.sampled_from([-1, 32, 128]),
        sym=st.booleans(),
        backend=st.sampled_from(["auto", "torch", "gptqmodel"]),
    )


def invalid() -> st.SearchStrategy[InvalidConfig]:
    return st.sampled_from([InvalidConfig({"bits": 9}, "bits"), InvalidConfig({"group_size": 0}, "group_size")])


SPECS = (
    QuantizerSpec(
        method="auto-round",
        requirements=(Requirement("auto_round", "auto-round", "0.5.0", "pip install 'auto-round>=0.5'"),),
        inputs=Inputs(
            default_config=_config,
            configs=configs,
            invalid_configs=invalid,
            checkpoint_writer="reference_quantizers.writers.auto_round:prequantized_checkpoint",
        ),
        promises=Promises(
            loading_attributes=("backend",),
            capabilities=Capabilities(quantizes_on_the_fly=False),
            requires_calibration=True,
        ),
        notes="checkpoints written by auto-round itself (iters=0 round-to-nearest, no calibration data, "
        "format auto_round); a writer needs a tokenizer object, built offline over the tiny vocabulary",
        known_deviations=(
            MERGE_MUTATES_CHECKPOINT_OBJECT,
            *(
                KnownDeviation(
                    check=check,
                    reason="AutoRoundQuantizer reads model.config.quantization_config while sizing parameters; the "
                    "tiny model prepared on the meta device (support/contract.py) carries the quantizer but no "
                    "quantization_config on its config, so the call raises AttributeError: whether from_pretrained "
                    "always sets it first is not yet established (a finding to confirm upstream or in the kit)",
                    evidence=CPU_RUN + ", auto-round 0.16.1: AttributeError: 'LlamaConfig' object has no attribute "
                    "'quantization_config'",
                    raises=(AttributeError,),
                )
                for check in ("test_param_element_size", "test_auto_device_map_within_budgets")
            ),
            KnownDeviation(
                check="test_save_reload_bit_identical",
                params="llama",
                reason="a float32 auto-round checkpoint loads in float16 with the rotary inv_freq buffer rounded to "
                "float16 too; the saved config then says float16, and the reload keeps inv_freq in float32 (it is "
                "not cast this time), so the reloaded model computes other logits from the same stored tensors",
                evidence="auto-round 0.16.1, transformers 5.25, CPU, tiny llama written by "
                "reference_quantizers.writers.auto_round (bits 4, group 128, sym): state dicts identical, "
                "model.rotary_emb.inv_freq float16 on the first load and float32 on the reload (max difference "
                "1.6e-4), logits differ in 2406/4096 elements by up to 4.9e-4; OPT (learned positions) reloads "
                "bit for bit",
            ),
            KnownDeviation(
                check="test_merge_refuses_another_class",
                reason="with an AutoRoundConfig argument, a checkpoint config of another method is first converted "
                "by AutoRoundConfig.from_dict, which refuses it with NotImplementedError instead of the ValueError "
                "merge_quantization_configs raises for every other pair of classes",
                evidence="transformers/quantizers/auto.py:254-255, transformers/utils/quantization_config.py:257-260",
            ),
        ),
    ),
)
