"""Twin of hqq (``HqqConfig``): 1 to 8 bits per group, axis 0 or 1, zero points fitted by HQQ's solver.

Stored like ``hqq.core.quantize.HQQLinear.state_dict()`` (hqq 0.2.x, ``encoded_state_dict``): the
packed codes ``W_q``, ``scale`` and ``zero`` in the compute dtype (here: the model's dtype), and the
layer's metadata as small tensors (``nbits``, ``group_size``, ``shape``, ``axis``, ``packing``, ...).
The Linear holds the codes as ``weight`` plus ``scale`` and ``zero``; the metadata is written on save
and checked against the config on load. transformers 5.x cannot use such a checkpoint (its HQQ
quantizer neither quantizes nor loads one), but ``HQQLinear.load_state_dict`` reads the twin's.
``view_as_float`` (hqq types the packed bytes as the compute dtype, for FSDP) is honoured by the twin's
codec; its models keep integer codes, and read checkpoints written either way.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.core_model_loading import ConversionOps, WeightConverter
from transformers.quantizers.quantizers_utils import get_module_from_name

from reference_quantizers.base import Layout, ReferenceConfig, ReferenceLinear, ReferenceQuantizer, register_twin
from reference_quantizers.codec import TwinCodec
from reference_quantizers.formats import hqq

#: HQQLinear.state_dict() keys besides W_q, scale, zero and bias, in its order
METADATA = (
    "nbits",
    "group_size",
    "shape",
    "axis",
    "packing",
    "unpack_view_dtype",
    "view_as_float",
    "quant_scale",
    "quant_zero",
    "compute_dtype",
    "offload_meta",
    "encoded_state_dict",
    "stores_quant_config",
    "channel_wise",
    "optimize",
    "round_zero",
)


class RefHqqConfig(ReferenceConfig):
    KEY = "ref-hqq"

    def __init__(
        self,
        nbits: int = 4,
        group_size: int | None = 64,
        axis: int = 1,
        view_as_float: bool = False,
        modules_to_not_convert: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.nbits = nbits
        self.group_size = group_size
        self.axis = axis
        self.view_as_float = view_as_float
        super().__init__(modules_to_not_convert=modules_to_not_convert, **kwargs)

    @classmethod
    def from_real(cls, config: Any) -> RefHqqConfig:
        params = config.quant_config.get("weight_quant_params")
        if params is None:
            raise ValueError("quant_config: per-layer HQQ configs (dynamic_config) have no twin")
        return cls(
            nbits=params["nbits"],
            group_size=params["group_size"],
            axis=params["axis"],
            view_as_float=params["view_as_float"],
            modules_to_not_convert=config.skip_modules,
        )

    def post_init(self) -> None:
        if self.nbits not in hqq.SUPPORTED_BITS:
            raise ValueError(f"nbits must be one of {hqq.SUPPORTED_BITS}, got {self.nbits!r}")
        size = self.group_size
        if size is not None and (not isinstance(size, int) or size % 8 or size <= 0):
            raise ValueError(f"group_size must be None or a positive multiple of 8, got {self.group_size!r}")
        if self.axis not in (0, 1):
            raise ValueError(f"axis must be 0 or 1, got {self.axis!r}")

    @property
    def round_zero(self) -> bool:
        return self.nbits == 4  # hqq's BaseQuantizeConfig


class RefHqqLinear(ReferenceLinear):
    element_size = 0.5  # 4 bits; the quantizer reports the configured width

    @classmethod
    def geometry(cls, config: RefHqqConfig, out_features: int, in_features: int) -> tuple[int, tuple[int, int]]:
        """(group size, shape of the grouped code matrix) for a weight of this shape."""
        group_size = hqq.resolved_group_size((out_features, in_features), config.group_size, config.axis)
        return group_size, hqq.grouped_shape((out_features, in_features), group_size, config.axis)

    @classmethod
    def layout(cls, config: RefHqqConfig, out_features: int, in_features: int) -> Layout:
        _, grouped = cls.geometry(config, out_features, in_features)
        stats = (hqq.stats_shape(grouped, config.axis), None)
        codes = (hqq.packed_shape(grouped, config.nbits), hqq.PACKINGS[config.nbits][3])
        return {"weight": codes, "scale": stats, "zero": stats}

    @classmethod
    def quantize(cls, weight: torch.Tensor, config: RefHqqConfig) -> dict[str, torch.Tensor]:
        group_size, _ = cls.geometry(config, *weight.shape)
        packed, scale, zero = hqq.quantize(weight, config.nbits, group_size, config.axis, config.round_zero)
        return {"weight": packed, "scale": scale.to(weight.dtype), "zero": zero.to(weight.dtype)}

    def dequantize(self) -> torch.Tensor:
        group_size, _ = self.geometry(self.config, self.out_features, self.in_features)
        shape, config = (self.out_features, self.in_features), self.config
        return hqq.dequantize(self.weight, self.scale, self.zero, config.nbits, shape, group_size, config.axis)

    @classmethod
    def unsupported(cls, shape: tuple[int, int], dtype: torch.dtype, config: RefHqqConfig) -> str | None:
        group_size = hqq.resolved_group_size(shape, config.group_size, config.axis)
        if (shape[0] * shape[1]) % group_size:
            return f"hqq needs the group size {group_size} to divide the weight's {shape[0] * shape[1]} values"
        rows, _ = hqq.grouped_shape(shape, group_size, config.axis)
        per_word = hqq.PACKINGS[config.nbits][1]
        if config.nbits != 3 and rows % per_word:
            return f"hqq packs {per_word} rows of codes per byte and the grouped weight has {rows} rows"
        return _view_unsupported(shape, dtype, config)

    def metadata(self) -> dict[str, torch.Tensor]:
        """HQQLinear's encoded metadata tensors for this layer, on the CPU (compute dtype: the dtype of ``scale``)."""
        group_size, _ = self.geometry(self.config, self.out_features, self.in_features)
        packing, _, _, word_dtype = hqq.PACKINGS[self.config.nbits]
        values: dict[str, Any] = {
            "nbits": self.config.nbits,
            "group_size": group_size,
            "shape": torch.tensor([self.out_features, self.in_features]),
            "axis": self.config.axis,
            "packing": packing,
            "unpack_view_dtype": str(word_dtype),
            "view_as_float": False,
            "quant_scale": False,
            "quant_zero": False,
            "compute_dtype": str(self.scale.dtype),
            "offload_meta": False,
            "encoded_state_dict": True,
            "stores_quant_config": True,
            "channel_wise": True,
            "optimize": True,
            "round_zero": self.config.round_zero,
        }
        return {name: _encode(values[name]) for name in METADATA}


def _view_unsupported(shape: tuple[int, int], dtype: torch.dtype, config: RefHqqConfig) -> str | None:
    """view_as_float views the packed codes as the compute dtype: their rows must hold whole elements."""
    if not config.view_as_float:
        return None
    group_size = hqq.resolved_group_size(shape, config.group_size, config.axis)
    _, columns = hqq.grouped_shape(shape, group_size, config.axis)
    word_bytes = hqq.PACKINGS[config.nbits][3].itemsize
    if (columns * word_bytes) % dtype.itemsize:
        return f"view_as_float: rows of {columns} packed codes do not hold a whole number of {dtype} values"
    return None


def _encode(value: Any) -> torch.Tensor:
    """hqq's safetensors encoding of a metadata value (``hqq.core.utils.encode_safetensor_type``)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, bool):
        return torch.tensor(int(value), dtype=torch.uint8)
    if isinstance(value, int):
        return torch.tensor(value, dtype=torch.int32)
    return torch.tensor([ord(c) for c in value], dtype=torch.uint8)


class HqqCheckpointOp(ConversionOps):
    """Loading: gathers one layer's ``W_q`` and metadata, checks the metadata, keeps ``W_q`` as ``weight``."""

    def __init__(self, hf_quantizer: RefHqqQuantizer) -> None:
        self.hf_quantizer = hf_quantizer

    def convert(
        self, input_dict: dict[str, Any], model: Any = None, full_layer_name: str | None = None, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        tensors = {key: value[0] if isinstance(value, list) else value for key, value in input_dict.items()}
        module, _ = get_module_from_name(model, full_layer_name)
        expected = module.metadata()
        for name in ("nbits", "group_size", "axis", "packing"):
            if name in tensors and not torch.equal(tensors[name].cpu(), expected[name]):
                raise ValueError(
                    f"{full_layer_name}: checkpoint has {name}={tensors[name].tolist()}, config says "
                    f"{expected[name].tolist()}"
                )
        codes = tensors["W_q"]
        if codes.dtype != module.weight.dtype:  # saved with view_as_float: the same bytes typed as floats
            codes = codes.view(module.weight.dtype)
        return {"weight": codes}


class RefHqqCodec(TwinCodec):
    """The twin's codec, returning what ``HQQLinear.state_dict()`` holds (metadata included), as the real codec."""

    def quantize(self, weight: torch.Tensor, config: RefHqqConfig) -> dict[str, torch.Tensor]:
        stored = super().quantize(weight, config)
        linear = self.linear_from(stored, config, tuple(weight.shape))
        metadata = linear.metadata()  # on the CPU, as HQQLinear.state_dict() returns it
        codes = stored.pop("weight")
        if config.view_as_float:  # the same bytes, typed as the compute dtype (hqq's option for FSDP)
            codes = codes.view(weight.dtype)
            metadata["view_as_float"] = _encode(True)
        return {"W_q": codes, **stored, **metadata}

    def linear_from(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], bias: torch.Tensor | None = None
    ) -> ReferenceLinear:
        tensors = {"weight" if key == "W_q" else key: value for key, value in stored.items() if key not in METADATA}
        tensors["weight"] = tensors["weight"].view(hqq.PACKINGS[config.nbits][3])  # undo view_as_float
        return super().linear_from(tensors, config, shape, bias)


class RefHqqQuantizer(ReferenceQuantizer):
    linear_class = RefHqqLinear

    @property
    def quantized_element_size(self) -> float:
        nbits = self.quantization_config.nbits
        _, per_word, _, word_dtype = hqq.PACKINGS[nbits]
        return word_dtype.itemsize / per_word

    @classmethod
    def codec(cls) -> RefHqqCodec:
        return RefHqqCodec(cls.linear_class)

    def get_weight_conversions(self) -> list[WeightConverter]:
        if not self.pre_quantized:
            return []
        return [WeightConverter(["W_q", *METADATA], "weight", [HqqCheckpointOp(self)])]

    def get_state_dict_and_metadata(self, model: Any) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        state = model.state_dict()
        for prefix, module in model.named_modules():
            if isinstance(module, self.linear_class):
                state[f"{prefix}.W_q"] = state.pop(f"{prefix}.weight")
                state.update({f"{prefix}.{name}": value for name, value in module.metadata().items()})
        return state, {}

    def _process_model_after_weight_loading(self, model: Any, **kwargs: Any) -> Any:
        # save_pretrained would try to reverse the loading conversion; get_state_dict_and_metadata does it
        conversions = getattr(model, "_weight_conversions", None)
        if conversions:
            model._weight_conversions = [c for c in conversions if not _is_ours(c)]
        return model


def _is_ours(conversion: Any) -> bool:
    return any(isinstance(op, HqqCheckpointOp) for op in getattr(conversion, "operations", ()))


register_twin(RefHqqConfig, RefHqqQuantizer)
