"""torchao: weight-only and dynamic-activation quantization through torchao's config objects."""

from __future__ import annotations

from qconform.spec import QuantizerSpec, Requirement

TORCHAO = Requirement("torchao", "torchao", "0.15.0", "pip install 'torchao>=0.15.0'")


def _default():
    from torchao.quantization import Int8WeightOnlyConfig
    from transformers import TorchAoConfig

    return TorchAoConfig(quant_type=Int8WeightOnlyConfig())


SPECS = (
    QuantizerSpec(
        method="torchao",
        default_config=_default,
        requirements=(TORCHAO,),
        reference_twin="ref-torchao",
    ),
)
