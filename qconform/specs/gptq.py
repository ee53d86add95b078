"""GPTQ and AWQ: calibrated weight-only formats that transformers loads through gptqmodel.

Facts from ``quantizers/quantizer_gptq.py``, ``quantizer_awq.py`` and ``GPTQConfig``/``AwqConfig``:
GPTQ quantizes on the fly (gptqmodel + optimum, a GPU or gptqmodel's CPU kernels) and loads
checkpoints; AWQ only loads them (``requires_calibration``). Both take ``max_input_length`` and
``backend`` from the ``from_pretrained`` argument (``GPTQConfig.get_loading_attributes``).
"""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.spec import Capabilities, InvalidConfig, KnownDeviation, QuantizerSpec, Requirement
from qconform.specs._common import MERGE_MUTATES_CHECKPOINT_OBJECT
from qconform.strategies import optional, skip_lists

GPTQMODEL = Requirement("gptqmodel", "gptqmodel", None, "pip install gptqmodel")
OPTIMUM = Requirement("optimum", "optimum", None, "pip install optimum")
ACCELERATE = Requirement("accelerate", "accelerate", "1.1.0")
LOADING = ("max_input_length", "backend")


def _gptq(**kwargs):
    from transformers import GPTQConfig

    return GPTQConfig(**{"bits": 4, **kwargs})


def _awq(**kwargs):
    from transformers import AwqConfig

    return AwqConfig(**kwargs)


def gptq_configs() -> st.SearchStrategy:
    return st.builds(
        _gptq,
        bits=st.sampled_from([2, 3, 4, 8]),
        group_size=st.sampled_from([-1, 32, 64, 128]),
        damp_percent=st.sampled_from([0.01, 0.1, 0.5]),
        desc_act=st.booleans(),
        sym=st.booleans(),
        format=st.sampled_from(["gptq", "gptq_v2"]),
        backend=optional(st.sampled_from(["auto", "torch", "triton"])),
        max_input_length=optional(st.sampled_from([2048, 4096])),
    )


def awq_configs() -> st.SearchStrategy:
    return st.builds(
        _awq,
        bits=st.just(4),
        group_size=st.sampled_from([32, 64, 128]),
        zero_point=st.booleans(),
        backend=st.sampled_from(["auto", "torch_awq", "gemm", "marlin"]),
        format=st.sampled_from(["gemm", "gemv"]),
        modules_to_not_convert=skip_lists(),
        max_input_length=optional(st.sampled_from([2048, 4096])),
    )


def gptq_invalid() -> st.SearchStrategy[InvalidConfig]:
    return st.sampled_from(
        [
            InvalidConfig({"bits": 5}, "bits"),
            InvalidConfig({"bits": 4, "group_size": 0}, "group_size"),
            InvalidConfig({"bits": 4, "damp_percent": 1.5}, "damp_percent"),
            InvalidConfig({"bits": 4, "dataset": "wikipedia"}, "dataset"),
        ]
    )


def awq_invalid() -> st.SearchStrategy[InvalidConfig]:
    return st.sampled_from(
        [
            InvalidConfig({"backend": "no-such-backend"}, "backend"),
            InvalidConfig({"format": "no-such-format"}, "format"),
            InvalidConfig({"bits": 5}, "bits"),
            InvalidConfig({"group_size": 0}, "group_size"),
        ]
    )


SPECS = (
    QuantizerSpec(
        method="gptq",
        default_config=_gptq,
        configs=gptq_configs,
        invalid_configs=gptq_invalid,
        loading_attributes=LOADING,
        requirements=(GPTQMODEL, OPTIMUM),
        capabilities=Capabilities(quantizes_on_the_fly=True, trainable=True),
        reference_twin="ref-gptq",
        codec="qconform.backends.gptq:GptqCodec",
        checkpoint_writer="reference_quantizers.calibration.checkpoints:prequantized_checkpoint",
        known_deviations=(
            MERGE_MUTATES_CHECKPOINT_OBJECT,
            KnownDeviation(
                check="test_missing_package_is_named",
                params="cpu",
                reason="without gptqmodel and without a GPU, validation says a GPU is required, although "
                "gptqmodel runs GPTQ on CPU: the message does not name the package to install",
                evidence="transformers/quantizers/quantizer_gptq.py:62-64 (RuntimeError 'GPU is required to "
                "quantize or run quantize model.' before the gptqmodel ImportError)",
            ),
        ),
    ),
    QuantizerSpec(
        method="awq",
        default_config=_awq,
        configs=awq_configs,
        invalid_configs=awq_invalid,
        loading_attributes=LOADING,
        requirements=(GPTQMODEL, ACCELERATE),
        capabilities=Capabilities(quantizes_on_the_fly=False, trainable=True),
        requires_calibration=True,
        reference_twin="ref-awq",
        codec="qconform.backends.awq:AutoAwqCodec",
        checkpoint_writer="reference_quantizers.calibration.checkpoints:prequantized_checkpoint",
        known_deviations=(
            MERGE_MUTATES_CHECKPOINT_OBJECT,
            KnownDeviation(
                check="test_save_reload_bit_identical",
                params="cpu",
                reason="gptqmodel's TorchAtenAwqLinear repacks qweight in place on its first forward (int32 "
                "[in, out/8] to uint8 [in, out/2] for torch's int4 kernel) and save_pretrained writes that layout "
                "under the same name, so from_pretrained refuses the checkpoint (size mismatch)",
                evidence="gptqmodel 7.6.0 on CPU (kernel TorchAtenAwqLinear); measured on tiny llama: "
                "q_proj.qweight saved as uint8 (128, 64) instead of int32 (128, 16); saved before any forward, "
                "the model reloads",
            ),
            KnownDeviation(
                check="test_invalid_config_refused",
                reason="AwqConfig.post_init replaces GPTQConfig.post_init without calling it, so bits and "
                "group_size are never validated (AwqConfig(bits=5) and group_size=0 are accepted)",
                evidence="transformers/utils/quantization_config.py:841 (AwqConfig.post_init, no super().post_init())",
            ),
        ),
    ),
)
