"""Methods without a family of their own: BitNet, EETQ, Gemma, GGUF, Metal, SINQ.

Facts from ``quantizer_{bitnet,eetq,gemma,gguf,metal,sinq}.py`` and their configs.
"""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import skip_lists
from qconform.specs import across_devices
from qconform.specs._common import ACCELERATE, KERNELS, MERGE_MUTATES_CHECKPOINT_OBJECT, config_builder, invalid_cases
from qconform.specs.model import (
    Capabilities,
    Inputs,
    InvalidConfig,
    KnownDeviation,
    Oracles,
    Promises,
    QuantizerSpec,
    Requirement,
    Tolerances,
)

bitnet = config_builder("BitNetQuantConfig")
eetq = config_builder("EetqConfig")
gemma = config_builder("GemmaQuantizationConfig")
gguf = config_builder("GgufConfig")
metal = config_builder("MetalConfig")
sinq = config_builder("SinqConfig")


# BitNet (BitLinear): ternary absmean weights and int8 per-token activations; the twin shares these bounds.
# Weights: an element is zeroed, moved to +-absmean or clipped to it, so its error never exceeds its own
# magnitude: the relative error is at most 1; measured 0.51 (Gaussian) to 0.987 (outlier columns), the twin
# over 200 examples of qconform's weights. Forward: activations are rounded to int8 per token (absmax),
# measured 0.024 (real, outlier-channel inputs) and 0.029 (twin, 66 examples) from the dequantized matmul.
# Logits: the tiny random models (no ternary training) drift 0.768 (llama) and 0.786 (opt), real and twin.
BITNET_TOLERANCES = Tolerances(
    rel_error=1.0, forward_rel_error=0.04, logits_drift=1.0, across_devices=across_devices.BITNET
)


SPECS = (
    QuantizerSpec(
        method="bitnet",
        requirements=(ACCELERATE,),
        inputs=Inputs(
            default_config=bitnet,
            configs=lambda: st.builds(
                bitnet,
                linear_class=st.sampled_from(["bitlinear", "autobitlinear"]),
                quantization_mode=st.sampled_from(["online", "offline"]),
                use_rms_norm=st.booleans(),
                modules_to_not_convert=skip_lists(),
            ),
            invalid_configs=invalid_cases(
                InvalidConfig({"linear_class": "linear"}, "linear_class"),
                InvalidConfig({"quantization_mode": "lazy"}, "quantization_mode"),
            ),
            checkpoint_writer="reference_quantizers.bitnet:write_checkpoint",
        ),
        promises=Promises(
            capabilities=Capabilities(quantizes_on_the_fly=False),
            requires_calibration=True,
            tolerances=BITNET_TOLERANCES,
        ),
        oracles=Oracles(
            reference_twin="ref-bitnet",
            codec="qconform.backends.bitnet:BitNetCodec",
        ),
    ),
    QuantizerSpec(
        method="eetq",
        requirements=(KERNELS, ACCELERATE),
        inputs=Inputs(
            default_config=eetq,
            configs=lambda: st.builds(eetq, modules_to_not_convert=skip_lists()),
            invalid_configs=invalid_cases(InvalidConfig({"weights": "int4"}, "weights")),
            devices=("cuda",),
        ),
        promises=Promises(
            capabilities=Capabilities(needs_accelerator=True, trainable=True),
            quantized_element_size=1.0,
        ),
        oracles=Oracles(
            reference_twin="ref-eetq",
        ),
    ),
    QuantizerSpec(
        method="gemma",
        inputs=Inputs(
            default_config=gemma,
            configs=lambda: st.builds(
                gemma,
                num_bits=st.sampled_from([2, 4, 8]),
                quantize_embeddings=st.booleans(),
                modules_to_not_convert=skip_lists(),
            ),
            invalid_configs=invalid_cases(InvalidConfig({"num_bits": 3}, "num_bits")),
        ),
        promises=Promises(
            capabilities=Capabilities(quantizes_on_the_fly=False, serializable=True),
            requires_calibration=True,
        ),
        known_deviations=(
            KnownDeviation(
                check="test_invalid_config_refused",
                reason="GemmaQuantizationConfig has no post_init: num_bits outside the documented 2, 4, 8 is accepted",
                evidence="transformers/utils/quantization_config.py:2033 (GemmaQuantizationConfig)",
            ),
        ),
    ),
    QuantizerSpec(
        method="gguf",
        inputs=Inputs(
            default_config=gguf,
            configs=lambda: st.builds(gguf, dequantize=st.booleans()),
        ),
        promises=Promises(
            capabilities=Capabilities(quantizes_on_the_fly=False),
        ),
        notes="loaded through from_pretrained(..., gguf_file=...); the checkpoint path here carries GgufConfig in "
        "config.json, which reaches the same quantizer without a file",
    ),
    QuantizerSpec(
        method="metal",
        requirements=(KERNELS,),
        inputs=Inputs(
            default_config=metal,
            configs=lambda: st.builds(
                metal,
                bits=st.sampled_from([2, 4, 8]),
                group_size=st.sampled_from([32, 64, 128]),
                modules_to_not_convert=skip_lists(),
                dequantize=st.booleans(),
            ),
            invalid_configs=invalid_cases(
                InvalidConfig({"bits": 3}, "bits"), InvalidConfig({"group_size": 0}, "group_size")
            ),
            devices=("mps",),
        ),
        promises=Promises(
            loading_attributes=("dequantize",),
            capabilities=Capabilities(needs_accelerator=True),
            prequantized_fallback="dequantize",
        ),
        known_deviations=(
            MERGE_MUTATES_CHECKPOINT_OBJECT,
            KnownDeviation(
                check="test_default_device_map_exists_here",
                params="checkpoint",
                reason="without an MPS device a Metal checkpoint is dequantized, yet update_device_map(None) still "
                "returns {'': 'mps'}, a device this machine does not have, so loading fails later",
                evidence="transformers/quantizers/quantizer_metal.py:74-77 (update_device_map) after "
                "validate_environment set dequantize=True (quantizer_metal.py:49-55)",
            ),
        ),
    ),
    QuantizerSpec(
        method="sinq",
        requirements=(Requirement("sinq", "sinq", None, "pip install sinq"),),
        inputs=Inputs(
            default_config=sinq,
            configs=lambda: st.builds(
                sinq,
                nbits=st.sampled_from([2, 3, 4, 8]),
                group_size=st.sampled_from([32, 64, 128]),
                tiling_mode=st.sampled_from(["1D", "2D"]),
                method=st.just("sinq"),
                modules_to_not_convert=skip_lists(),
            ),
            invalid_configs=invalid_cases(
                InvalidConfig({"method": "qsinq"}, "method"),
                InvalidConfig({"nbits": "four"}, "nbits"),
            ),
        ),
        known_deviations=(
            KnownDeviation(
                check="test_invalid_config_refused",
                reason="SinqConfig.post_init converts with int() before validating, so a non-numeric nbits or "
                "group_size fails with int()'s own message, which does not name the field",
                evidence="transformers/utils/quantization_config.py:2012 (self.nbits = int(self.nbits)); observed: "
                "ValueError: invalid literal for int() with base 10: 'four'",
            ),
            *(
                KnownDeviation(
                    check=check,
                    reason="SinqConfig keeps unknown keyword arguments, quant_method among them, in _extra_kwargs and "
                    "to_dict writes them out, so each save and reload nests another _extra_kwargs level",
                    evidence="transformers/utils/quantization_config.py:2007 (self._extra_kwargs = dict(kwargs)); "
                    "observed: _extra_kwargs.quant_method appears once the config went through config.json",
                )
                for check in (
                    "test_merge_is_idempotent",
                    "test_merge_dict_and_object_agree",
                    "test_round_trip_idempotent",
                    "test_round_trip_same_class_and_dict",
                )
            ),
            KnownDeviation(
                check="test_missing_package_is_named",
                reason="is_sinq_available() returns the tuple from _is_package_available, which is always truthy, "
                "so validate_environment never notices that sinq is missing",
                evidence="transformers/utils/import_utils.py:1529-1530 (return _is_package_available('sinq'))",
            ),
        ),
    ),
)
