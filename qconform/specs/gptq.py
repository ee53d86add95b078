"""GPTQ: calibrated weight-only quantization, loaded pre-quantized through gptqmodel."""

from __future__ import annotations

from qconform.spec import Capabilities, QuantizerSpec, Requirement


def _default():
    from transformers import GPTQConfig

    return GPTQConfig(bits=4)


SPECS = (
    QuantizerSpec(
        method="gptq",
        default_config=_default,
        loading_attributes=("use_exllama", "exllama_config", "use_cuda_fp16", "max_input_length", "backend"),
        requirements=(Requirement("gptqmodel", "gptqmodel", None, "pip install gptqmodel"),),
        capabilities=Capabilities(quantizes_on_the_fly=True, trainable=True),
        reference_twin="ref-gptq",
    ),
)
