"""Twin of bitsandbytes 4-bit (``bitsandbytes_4bit``): NF4/FP4 blocks, optional double quantization.

Checkpoints are bitsandbytes' own, tensor for tensor (``Linear4bit._save_to_state_dict``)::

    weight                                  packed indices, (ceil(n / 2) / itemsize, 1), quant_storage dtype
    weight.absmax                           float32 per block, or uint8 when double-quantized
    weight.quant_map                        the 16 code values (float32)
    weight.nested_absmax                    float32 per 256 absmax          (double quantization only)
    weight.nested_quant_map                 the 256-entry dynamic map        (double quantization only)
    weight.quant_state.bitsandbytes__nf4    uint8 bytes of a JSON object: quant_type, blocksize, dtype,
                                            shape (+ nested_blocksize, nested_dtype, nested_offset)

so a twin-written checkpoint loads through transformers' ``Bnb4BitHfQuantizer`` and the other way round.
Dotted names are not attribute names: the Linear keeps them as ``absmax``, ``quant_map``,
``nested_absmax``, ``nested_quant_map`` and ``nested_offset`` (the JSON's float), plus the weight's
original dtype as ``weight_dtype``; ``stored()``/``load_stored()`` translate, and its state dict
uses bitsandbytes' names once loaded. transformers' loader gathers a module's checkpoint tensors
with one ``WeightConverter`` (as it does for bitsandbytes), which hands them to ``load_stored``.

``bnb_4bit_blocksize`` is the twin's own field: transformers' ``BitsAndBytesConfig`` has none and
always quantizes with bitsandbytes' default of 64, but every checkpoint records its block size and
bitsandbytes loads any of them.
"""

from __future__ import annotations

import json
from typing import Any

import torch
from transformers.core_model_loading import ConversionOps, WeightConverter
from transformers.quantizers.quantizers_utils import get_module_from_name

from reference_quantizers.base import (
    Layout,
    ReferenceConfig,
    ReferenceLinear,
    ReferenceQuantizer,
    register_twin,
)
from reference_quantizers.codec import TwinCodec
from reference_quantizers.formats import bnb_4bit as fmt

QUANT_TYPES = ("nf4", "fp4")
DTYPES = ("float16", "bfloat16", "float32")
STORAGES = ("uint8", "float16", "bfloat16", "float32")
QUANT_STATE = "weight.quant_state.bitsandbytes__"
#: attribute of the twin's Linear -> name in the checkpoint (the JSON quant state is built, not stored)
CHECKPOINT_NAMES = {
    "weight": "weight",
    "absmax": "weight.absmax",
    "quant_map": "weight.quant_map",
    "nested_absmax": "weight.nested_absmax",
    "nested_quant_map": "weight.nested_quant_map",
}
#: every name a bitsandbytes 4-bit checkpoint may hold for one Linear (the order transformers 5.17 uses)
SERIALIZED_NAMES = [*list(CHECKPOINT_NAMES.values())[1:], f"{QUANT_STATE}nf4", f"{QUANT_STATE}fp4", "weight"]


def _dtype_name(dtype: torch.dtype | str | None, default: str) -> str:
    if dtype is None:
        return default
    return str(dtype).removeprefix("torch.")


def pack_quant_state(state: dict[str, Any]) -> torch.Tensor:
    """The JSON quant state as bitsandbytes stores it: the UTF-8 bytes of ``json.dumps``, a uint8 CPU tensor."""
    return torch.tensor(list(json.dumps(state).encode("utf-8")), dtype=torch.uint8)


def unpack_quant_state(packed: torch.Tensor) -> dict[str, Any]:
    return json.loads(bytes(packed.cpu().tolist()).decode("utf-8"))


class RefBnb4bitConfig(ReferenceConfig):
    KEY = "ref-bitsandbytes_4bit"

    def __init__(
        self,
        bnb_4bit_quant_type: str = "fp4",
        bnb_4bit_use_double_quant: bool = False,
        bnb_4bit_compute_dtype: torch.dtype | str | None = None,
        bnb_4bit_quant_storage: torch.dtype | str | None = None,
        bnb_4bit_blocksize: int = 64,
        modules_to_not_convert: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.bnb_4bit_quant_type = bnb_4bit_quant_type
        self.bnb_4bit_use_double_quant = bnb_4bit_use_double_quant
        self.bnb_4bit_compute_dtype = _dtype_name(bnb_4bit_compute_dtype, "float32")  # as BitsAndBytesConfig
        self.bnb_4bit_quant_storage = _dtype_name(bnb_4bit_quant_storage, "uint8")
        self.bnb_4bit_blocksize = bnb_4bit_blocksize
        super().__init__(modules_to_not_convert=modules_to_not_convert, **kwargs)

    def post_init(self) -> None:
        if self.bnb_4bit_quant_type not in QUANT_TYPES:
            raise ValueError(f"bnb_4bit_quant_type must be one of {QUANT_TYPES}, got {self.bnb_4bit_quant_type!r}")
        if not isinstance(self.bnb_4bit_use_double_quant, bool):
            raise ValueError(f"bnb_4bit_use_double_quant must be a bool, got {self.bnb_4bit_use_double_quant!r}")
        if self.bnb_4bit_compute_dtype not in DTYPES:
            raise ValueError(f"bnb_4bit_compute_dtype must be one of {DTYPES}, got {self.bnb_4bit_compute_dtype!r}")
        if self.bnb_4bit_quant_storage not in STORAGES:
            raise ValueError(f"bnb_4bit_quant_storage must be one of {STORAGES}, got {self.bnb_4bit_quant_storage!r}")
        if self.bnb_4bit_blocksize not in fmt.BLOCKSIZES or isinstance(self.bnb_4bit_blocksize, bool):
            raise ValueError(f"bnb_4bit_blocksize must be one of {fmt.BLOCKSIZES}, got {self.bnb_4bit_blocksize!r}")

    @classmethod
    def from_real(cls, config: Any) -> RefBnb4bitConfig:
        """From a ``BitsAndBytesConfig(load_in_4bit=True, ...)``; its block size is always 64."""
        return cls(
            bnb_4bit_quant_type=config.bnb_4bit_quant_type,
            bnb_4bit_use_double_quant=config.bnb_4bit_use_double_quant,
            bnb_4bit_compute_dtype=config.bnb_4bit_compute_dtype,
            bnb_4bit_quant_storage=config.bnb_4bit_quant_storage,
            modules_to_not_convert=config.llm_int8_skip_modules,
        )

    def to_real(self) -> Any:
        """The ``BitsAndBytesConfig`` with the same fields (the block size lives in each layer's quant state)."""
        from transformers import BitsAndBytesConfig

        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=self.bnb_4bit_quant_type,
            bnb_4bit_use_double_quant=self.bnb_4bit_use_double_quant,
            bnb_4bit_compute_dtype=getattr(torch, self.bnb_4bit_compute_dtype),
            bnb_4bit_quant_storage=getattr(torch, self.bnb_4bit_quant_storage),
            llm_int8_skip_modules=self.modules_to_not_convert,
        )

    def absmax_bytes_per_weight(self) -> float:
        if self.bnb_4bit_use_double_quant:
            return (1 + 4 / fmt.NESTED_BLOCKSIZE) / self.bnb_4bit_blocksize
        return 4 / self.bnb_4bit_blocksize


class RefBnb4bitLinear(ReferenceLinear):
    element_size = 0.5 + 4 / 64  # the default config's; the quantizer computes it per config

    def __init__(self, in_features: int, out_features: int, bias: bool, config: Any, **kwargs: Any) -> None:
        super().__init__(in_features, out_features, bias, config, **kwargs)
        self.weight_dtype: torch.dtype = kwargs.get("dtype") or torch.get_default_dtype()

    # --- the format ------------------------------------------------------------------------

    @classmethod
    def layout(cls, config: RefBnb4bitConfig, out_features: int, in_features: int) -> Layout:
        """The Linear's tensors by attribute name (see ``CHECKPOINT_NAMES`` for the checkpoint's names)."""
        count, blocksize = out_features * in_features, config.bnb_4bit_blocksize
        storage = getattr(torch, config.bnb_4bit_quant_storage)
        blocks = -(-count // blocksize)
        layout: Layout = {"weight": ((-(-count // 2) // storage.itemsize, 1), storage)}
        if config.bnb_4bit_use_double_quant:
            layout["absmax"] = ((blocks,), torch.uint8)
            layout["quant_map"] = ((16,), torch.float32)
            layout["nested_absmax"] = ((-(-blocks // fmt.NESTED_BLOCKSIZE),), torch.float32)
            layout["nested_quant_map"] = ((256,), torch.float32)
            layout["nested_offset"] = ((), torch.float32)
        else:
            layout["absmax"] = ((blocks,), torch.float32)
            layout["quant_map"] = ((16,), torch.float32)
        return layout

    @classmethod
    def unsupported(cls, shape: tuple[int, int], dtype: torch.dtype, config: RefBnb4bitConfig) -> str | None:
        storage = getattr(torch, config.bnb_4bit_quant_storage)
        packed_bytes = -(-shape[0] * shape[1] // 2)
        if packed_bytes % storage.itemsize:
            return f"{packed_bytes} packed bytes of a {shape} weight do not fill whole {storage} elements"
        if dtype not in (torch.float16, torch.bfloat16, torch.float32):
            return f"bitsandbytes quantizes float16, bfloat16 and float32 weights, not {dtype}"
        return None

    @classmethod
    def quantize(cls, weight: torch.Tensor, config: RefBnb4bitConfig) -> dict[str, torch.Tensor]:
        """The checkpoint tensors of ``weight`` (bitsandbytes' names, without the module prefix)."""
        quant_type, blocksize = config.bnb_4bit_quant_type, config.bnb_4bit_blocksize
        packed, absmax = fmt.quantize_4bit(weight, blocksize, quant_type)
        state: dict[str, Any] = {
            "quant_type": quant_type,
            "blocksize": blocksize,
            "dtype": _dtype_name(weight.dtype, ""),
            "shape": list(weight.shape),
        }
        stored = {"weight": fmt.as_storage(packed, getattr(torch, config.bnb_4bit_quant_storage))}
        if config.bnb_4bit_use_double_quant:
            indices, nested_absmax, offset = fmt.double_quantize(absmax)
            stored["weight.absmax"] = indices
            stored["weight.quant_map"] = fmt.code(quant_type, weight.device)
            stored["weight.nested_absmax"] = nested_absmax
            stored["weight.nested_quant_map"] = fmt.dynamic_map(weight.device)
            state.update(nested_blocksize=fmt.NESTED_BLOCKSIZE, nested_dtype="float32", nested_offset=offset.item())
        else:
            stored["weight.absmax"] = absmax
            stored["weight.quant_map"] = fmt.code(quant_type, weight.device)
        stored[QUANT_STATE + quant_type] = pack_quant_state(state)
        return stored

    def dequantize(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The weight in ``dtype`` (default: the dtype it was quantized from), decoded in float32."""
        config = self.config
        absmax = self.absmax
        if config.bnb_4bit_use_double_quant:
            absmax = fmt.double_dequantize(self.absmax, self.nested_absmax, self.nested_quant_map, self.nested_offset)
        shape = (self.out_features, self.in_features)
        return fmt.dequantize_4bit(
            self.weight,
            absmax,
            config.bnb_4bit_blocksize,
            config.bnb_4bit_quant_type,
            shape,
            dtype or self.weight_dtype,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """As ``Linear4bit``: input, weight and bias in the compute dtype, output back in the input's dtype."""
        compute = getattr(torch, self.config.bnb_4bit_compute_dtype)
        bias = None if self.bias is None else self.bias.to(compute)
        return torch.nn.functional.linear(x.to(compute), self.dequantize(compute), bias).to(x.dtype)

    # --- checkpoint names <-> attributes ----------------------------------------------------

    def stored(self, keep_vars: bool = False) -> dict[str, torch.Tensor]:
        """This Linear's checkpoint tensors, named as bitsandbytes names them."""
        config = self.config
        names = [name for name in self.layout(config, 1, 1) if name in CHECKPOINT_NAMES]
        stored = {CHECKPOINT_NAMES[name]: getattr(self, name) for name in names}
        stored = stored if keep_vars else {name: tensor.detach() for name, tensor in stored.items()}
        state: dict[str, Any] = {
            "quant_type": config.bnb_4bit_quant_type,
            "blocksize": config.bnb_4bit_blocksize,
            "dtype": _dtype_name(self.weight_dtype, ""),
            "shape": [self.out_features, self.in_features],
        }
        if config.bnb_4bit_use_double_quant:
            offset = self.nested_offset.item()
            state.update(nested_blocksize=fmt.NESTED_BLOCKSIZE, nested_dtype="float32", nested_offset=offset)
        stored[QUANT_STATE + config.bnb_4bit_quant_type] = pack_quant_state(state)
        return stored

    def load_stored(self, stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Read a checkpoint's tensors: keep the weight's dtype, return the tensors by attribute name.

        The JSON quant state must agree with this Linear's config (quant type, block size, double
        quantization, shape): the twin's layout is the config's, not each layer's.
        """
        config = self.config
        (key,) = [name for name in stored if name.startswith(QUANT_STATE)]
        state = unpack_quant_state(stored[key])
        expected = {
            "quant_type": config.bnb_4bit_quant_type,
            "blocksize": config.bnb_4bit_blocksize,
            "shape": [self.out_features, self.in_features],
            "nested": config.bnb_4bit_use_double_quant,
        }
        found = {**{k: state.get(k) for k in expected}, "nested": "nested_offset" in state}
        if found != expected:
            raise ValueError(f"quant state {found} does not match the config of this layer {expected}")
        self.weight_dtype = getattr(torch, state["dtype"])
        names = self.layout(config, 1, 1)
        tensors = {name: stored[CHECKPOINT_NAMES[name]] for name in names if name != "nested_offset"}
        if "nested_offset" in names:
            tensors["nested_offset"] = torch.tensor(float(state["nested_offset"]), device=stored["weight"].device)
        return tensors

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        """Once loaded, the state dict holds bitsandbytes' names (as ``Linear4bit``'s does); before, on the
        meta device, the attributes (the loader's list of what it must fill)."""
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self.weight.is_meta:
            return
        for name in self.layout(self.config, 1, 1):
            destination.pop(prefix + name)
        destination.update({prefix + name: tensor for name, tensor in self.stored(keep_vars).items()})

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any, **kwargs: Any) -> None:
        if any(key.startswith(prefix + QUANT_STATE) for key in state_dict):
            mine = {key: value for key, value in state_dict.items() if key.startswith(prefix + "weight")}
            attributes = self.load_stored({key.removeprefix(prefix): value for key, value in mine.items()})
            state_dict = {key: value for key, value in state_dict.items() if key not in mine}
            state_dict.update({prefix + name: tensor for name, tensor in attributes.items()})
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class LoadBnb4bitOp(ConversionOps):
    """Loader step for one Linear: checkpoint tensors (given, or quantized from the weight) -> attributes."""

    def __init__(self, hf_quantizer: RefBnb4bitQuantizer, quantize: bool) -> None:
        self.hf_quantizer, self.quantize = hf_quantizer, quantize

    def convert(
        self,
        input_dict: dict[str, Any],
        full_layer_name: str | None = None,
        model: torch.nn.Module | None = None,
        **kwargs: Any,
    ) -> dict[str, torch.Tensor]:
        values = {key: value[0] if isinstance(value, list) else value for key, value in input_dict.items()}
        if not self.quantize and len(values) == 1:  # only a weight: nothing of bitsandbytes' to read
            return input_dict
        name = full_layer_name or next(iter(values))
        module, _ = get_module_from_name(model, name)
        if self.quantize:
            stored = module.quantize(next(iter(values.values())), self.hf_quantizer.quantization_config)
        else:
            stored = values
        tensors = module.load_stored(stored)
        module._is_hf_initialized = True
        prefix = name.rsplit(".", 1)[0]
        return {f"{prefix}.{attribute}": tensor for attribute, tensor in tensors.items()}


class Bnb4bitTwinCodec(TwinCodec):
    """The twin's codec: a Linear reads checkpoint tensors through ``load_stored`` (dotted names)."""

    def linear_from(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], bias: torch.Tensor | None = None
    ) -> ReferenceLinear:
        out_features, in_features = shape
        with torch.device("meta"):
            linear = self.linear_class(in_features, out_features, bias is not None, config, pre_quantized=True)
        linear = linear.to_empty(device=stored["weight"].device)
        for name, tensor in linear.load_stored(stored).items():
            setattr(linear, name, torch.nn.Parameter(tensor, requires_grad=False))
        if bias is not None:
            linear.bias = torch.nn.Parameter(bias)
        return linear


class RefBnb4bitQuantizer(ReferenceQuantizer):
    linear_class = RefBnb4bitLinear

    @property
    def quantized_element_size(self) -> float:
        return 0.5 + self.quantization_config.absmax_bytes_per_weight()

    @classmethod
    def codec(cls) -> Any:
        return Bnb4bitTwinCodec(cls.linear_class)

    def get_quantize_ops(self) -> ConversionOps:
        return LoadBnb4bitOp(self, quantize=True)

    def get_weight_conversions(self) -> list[Any]:
        """Pre-quantized: gather each Linear's bitsandbytes tensors into one step (transformers 5.17 and 5.23)."""
        if not self.pre_quantized:
            return []
        return [WeightConverter(SERIALIZED_NAMES, "weight", operations=[LoadBnb4bitOp(self, quantize=False)])]

    def _process_model_after_weight_loading(self, model: Any, **kwargs: Any) -> Any:
        # transformers keeps the converters it used to reverse them on save; this one has no reverse
        # (the Linear's state dict already holds bitsandbytes' names), so it is not kept
        conversions = getattr(model, "_weight_conversions", None)
        if conversions:
            model._weight_conversions = [
                c for c in conversions if not any(isinstance(op, LoadBnb4bitOp) for op in c.operations)
            ]
        return model


register_twin(RefBnb4bitConfig, RefBnb4bitQuantizer)
