"""Twin of compressed-tensors (``compressed-tensors``): integer and FP8 weights, packed or not, min-max scales.

The config is compressed-tensors' own ``quantization_config`` (``config_groups``, ``format``, ``ignore``,
...), read by this module without the compressed-tensors package, so a checkpoint interchanges with the
real ``CompressedTensorsHfQuantizer`` by its ``quant_method`` alone. Supported: one config group; weights
of ``type`` "int" (1 to 8 bits) or "float" (8 bits, E4M3), ``strategy`` "tensor", "channel" or "group",
static, min-max scales, symmetric (asymmetric for integers); optionally dynamic per-token activations
(8-bit int or float, symmetric), applied as compressed-tensors applies them: quantized and dequantized
before the matmul.

Stored tensors (compressed-tensors' names, shapes and dtypes; the scale has the model's dtype):

- ``format="pack-quantized"`` (integers): ``weight_packed`` int32 ``(out, ceil(in*bits/32))``,
  ``weight_scale``, ``weight_shape`` int64 ``[out, in]``, and, when asymmetric, ``weight_zero_point``
  packed along the output dimension, int32 ``(ceil(out*bits/32), groups)`` (int8 ``(1,)``, not packed,
  for the "tensor" strategy);
- ``"naive-quantized"``, ``"int-quantized"``, ``"float-quantized"``: ``weight`` int8 or float8_e4m3fn,
  ``weight_scale``, and, when asymmetric, ``weight_zero_point`` int8 shaped like the scale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from reference_quantizers.base import (
    Layout,
    ReferenceConfig,
    ReferenceLinear,
    ReferenceQuantizer,
    register_twin,
    replace_linears,
    tied_modules,
)
from reference_quantizers.formats import pack_quantized as pq
from reference_quantizers.loading import QuantizeIntoModuleOp

FORMATS = ("pack-quantized", "naive-quantized", "int-quantized", "float-quantized")
STRATEGIES = ("tensor", "channel", "group")
# QuantizationArgs fields this twin reads, and the others it accepts only at their neutral value
_NEUTRAL_ARGS = {"block_structure": None, "actorder": None, "scale_dtype": None, "dynamic": False}
_IGNORED_ARGS = {"observer", "observer_kwargs", "zp_dtype"}


@dataclass(frozen=True)
class WeightArgs:
    num_bits: int
    type: str
    strategy: str
    group_size: int | None
    symmetric: bool


def _weight_args(args: dict[str, Any]) -> WeightArgs:
    known = {"num_bits", "type", "strategy", "group_size", "symmetric"} | set(_NEUTRAL_ARGS) | _IGNORED_ARGS
    if unknown := sorted(set(args) - known):
        raise ValueError(f"config_groups weights: unsupported fields {unknown}")
    for name, neutral in _NEUTRAL_ARGS.items():
        if args.get(name, neutral) not in (neutral, None):
            raise ValueError(f"config_groups weights.{name} must be {neutral!r}, got {args[name]!r}")
    kind, bits = args.get("type", "int"), args.get("num_bits", 8)
    strategy, group_size = args.get("strategy"), args.get("group_size")
    symmetric = args.get("symmetric", True)
    if strategy is None:  # compressed-tensors infers it the same way
        strategy = "group" if group_size else "tensor"
    if kind not in ("int", "float"):
        raise ValueError(f"config_groups weights.type must be 'int' or 'float', got {kind!r}")
    if isinstance(bits, bool) or not isinstance(bits, int) or not (1 <= bits <= 8 if kind == "int" else bits == 8):
        raise ValueError(f"config_groups weights.num_bits must be 1..8 for int, 8 for float; got {bits!r}")
    if strategy not in STRATEGIES:
        raise ValueError(f"config_groups weights.strategy must be one of {STRATEGIES}, got {strategy!r}")
    if strategy == "group":
        if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
            raise ValueError(f"config_groups weights.group_size must be a positive integer, got {group_size!r}")
    else:
        group_size = None
    if not isinstance(symmetric, bool) or (kind == "float" and not symmetric):
        raise ValueError(f"config_groups weights.symmetric must be a bool (True for float), got {symmetric!r}")
    return WeightArgs(bits, kind, strategy, group_size, symmetric)


def _activation_kind(args: dict[str, Any] | None) -> str | None:
    """The type of dynamic per-token activation quantization, or None."""
    if args is None:
        return None
    expected = {"num_bits": 8, "strategy": "token", "dynamic": True, "symmetric": True}
    for name, value in expected.items():
        if args.get(name, value) != value:
            raise ValueError(f"config_groups input_activations.{name} must be {value!r}, got {args[name]!r}")
    if args.get("type", "int") not in ("int", "float"):
        raise ValueError(f"config_groups input_activations.type must be 'int' or 'float', got {args['type']!r}")
    return args.get("type", "int")


def default_format(weights: WeightArgs, activations: str | None) -> str:
    """The format compressed-tensors picks for such a scheme."""
    if weights.type == "float":
        return "float-quantized" if activations else "naive-quantized"
    if activations == "int" and weights.num_bits == 8:
        return "int-quantized"
    return "pack-quantized"


def matches(name: str, module: nn.Module, patterns: list[str]) -> bool:
    """compressed-tensors' matching: a module name, ``re:<regex>`` matched from the start, or a class name."""
    for pattern in patterns:
        if pattern.startswith("re:"):
            if re.match(pattern.removeprefix("re:"), name):
                return True
        elif pattern == name or any(cls.__name__ == pattern for cls in type(module).__mro__):
            return True
    return False


class RefCompressedTensorsConfig(ReferenceConfig):
    KEY = "ref-compressed-tensors"

    def __init__(
        self,
        config_groups: dict[str, Any] | None = None,
        format: str | None = None,
        ignore: list[str] | None = None,
        quantization_status: str = "compressed",
        modules_to_not_convert: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if config_groups is None:
            config_groups = {"group_0": scheme_group()}
            ignore = ["lm_head"] if ignore is None else ignore
        for name in ("kv_cache_scheme", "sparsity_config", "transform_config"):  # written empty by compressed-tensors
            if kwargs.get(name):
                raise ValueError(f"{name} is not supported by the twin, got {kwargs[name]!r}")
        self.config_groups = config_groups
        self.format = format
        self.ignore = list(ignore or [])
        self.quantization_status = quantization_status
        super().__init__(modules_to_not_convert=modules_to_not_convert, **kwargs)

    @classmethod
    def from_scheme(
        cls,
        num_bits: int = 4,
        type: str = "int",
        strategy: str = "group",
        group_size: int | None = 128,
        symmetric: bool = True,
        activations: str | None = None,
        format: str | None = None,
        ignore: list[str] | None = None,
        **kwargs: Any,
    ) -> RefCompressedTensorsConfig:
        """A one-group config from scheme fields (``activations``: None, "int" or "float")."""
        group = scheme_group(num_bits, type, strategy, group_size, symmetric, activations)
        weights, acts = _weight_args(group["weights"]), _activation_kind(group.get("input_activations"))
        return cls(
            config_groups={"group_0": group},
            format=format or default_format(weights, acts),
            ignore=["lm_head"] if ignore is None else ignore,
            **kwargs,
        )

    def post_init(self) -> None:
        if not isinstance(self.config_groups, dict) or len(self.config_groups) != 1:
            raise ValueError(f"config_groups must hold exactly one group, got {self.config_groups!r}")
        (group,) = self.config_groups.values()
        if not isinstance(group, dict) or not group.get("targets") or group.get("weights") is None:
            raise ValueError(f"config_groups needs targets and weights, got {group!r}")
        if group.get("output_activations") is not None:
            raise ValueError("config_groups output_activations is not supported")
        weights = _weight_args(group["weights"])
        activations = _activation_kind(group.get("input_activations"))
        fmt = group.get("format") or self.format or default_format(weights, activations)
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
        holds = {"pack-quantized": "int", "int-quantized": "int", "float-quantized": "float"}.get(fmt, weights.type)
        if holds != weights.type:
            raise ValueError(f"format {fmt!r} does not hold {weights.type} weights")
        if self.format is None:
            self.format = fmt
        if not all(isinstance(name, str) for name in self.ignore):
            raise ValueError(f"ignore must be a list of strings, got {self.ignore!r}")

    # --- the scheme, read from config_groups ---------------------------------------------

    @property
    def group(self) -> dict[str, Any]:
        return next(iter(self.config_groups.values()))

    @property
    def weights(self) -> WeightArgs:
        return _weight_args(self.group["weights"])

    @property
    def activations(self) -> str | None:
        return _activation_kind(self.group.get("input_activations"))

    @property
    def packed(self) -> bool:
        return (self.group.get("format") or self.format) == "pack-quantized"

    def selects(self, name: str, module: nn.Module) -> bool:
        """Whether compressed-tensors quantizes this module: it matches a target and no ignore pattern."""
        return matches(name, module, list(self.group["targets"])) and not matches(name, module, self.ignore)

    def to_compressed_tensors(self) -> dict[str, Any]:
        """The real ``quantization_config`` (quant_method "compressed-tensors") holding the same scheme."""
        real = {k: v for k, v in self.to_dict().items() if k != "modules_to_not_convert"}
        return real | {"quant_method": "compressed-tensors"}


def scheme_group(
    num_bits: int = 4,
    type: str = "int",
    strategy: str = "group",
    group_size: int | None = 128,
    symmetric: bool = True,
    activations: str | None = None,
) -> dict[str, Any]:
    """One config group (targets every Linear) as compressed-tensors writes it."""
    weights = {
        "num_bits": num_bits,
        "type": type,
        "symmetric": symmetric,
        "strategy": strategy,
        "group_size": group_size if strategy == "group" else None,
        "dynamic": False,
    }
    group: dict[str, Any] = {"targets": ["Linear"], "weights": weights}
    if activations is not None:
        group["input_activations"] = {
            "num_bits": 8,
            "type": activations,
            "symmetric": True,
            "strategy": "token",
            "dynamic": True,
        }
    return group


class RefCompressedTensorsLinear(ReferenceLinear):
    element_size = 0.5  # int4 packed; RefCompressedTensorsQuantizer says it per config
    quantizes_into_module = True

    @classmethod
    def layout(cls, config: RefCompressedTensorsConfig, out_features: int, in_features: int) -> Layout:
        w = config.weights
        scale = pq.scale_shape((out_features, in_features), w.strategy, w.group_size)
        if config.packed:
            stored: Layout = {
                "weight_packed": ((out_features, pq.packed_columns(in_features, w.num_bits)), torch.int32),
                "weight_scale": (scale, None),  # the model's dtype, as compressed-tensors gives it
                "weight_shape": ((2,), torch.int64),
            }
            if not w.symmetric and w.strategy != "tensor":
                stored["weight_zero_point"] = ((pq.packed_columns(out_features, w.num_bits), scale[-1]), torch.int32)
            elif not w.symmetric:  # compressed-tensors packs group and channel zero points only
                stored["weight_zero_point"] = (scale, torch.int8)
            return stored
        stored = {
            "weight": ((out_features, in_features), pq.FP8 if w.type == "float" else torch.int8),
            "weight_scale": (scale, None),  # the model's dtype, as compressed-tensors gives it
        }
        if not w.symmetric:
            stored["weight_zero_point"] = (scale, torch.int8)
        return stored

    @classmethod
    def quantize(cls, weight: torch.Tensor, config: RefCompressedTensorsConfig) -> dict[str, torch.Tensor]:
        w = config.weights
        lo, hi = pq.observe(weight, w.strategy, w.group_size)
        scale, zero_point = pq.qparams(lo, hi, w.num_bits, w.type, w.symmetric)
        quantized = pq.quantize(weight, scale, zero_point, w.num_bits, w.type, w.strategy, w.group_size)
        if not config.packed:
            stored = {"weight": quantized, "weight_scale": scale}
            return stored if zero_point is None else stored | {"weight_zero_point": zero_point}
        stored = {
            "weight_packed": pq.pack_int32(quantized, w.num_bits),
            "weight_scale": scale,
            "weight_shape": torch.tensor(weight.shape, dtype=torch.int64, device=weight.device),
        }
        if zero_point is not None and w.strategy != "tensor":
            zero_point = pq.pack_int32(zero_point.T, w.num_bits).T.contiguous()
        return stored if zero_point is None else stored | {"weight_zero_point": zero_point}

    def dequantize(self) -> torch.Tensor:
        w = self.config.weights
        zero_point = getattr(self, "weight_zero_point", None)
        if not self.config.packed:
            return pq.dequantize(self.weight, self.weight_scale, zero_point, w.strategy, w.group_size)
        quantized = pq.unpack_int32(self.weight_packed, w.num_bits, self.in_features)
        if zero_point is not None and w.strategy != "tensor":
            zero_point = pq.unpack_int32(zero_point.T, w.num_bits, self.out_features).T
        return pq.dequantize(quantized, self.weight_scale, zero_point, w.strategy, w.group_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (kind := self.config.activations) is not None:
            x = pq.fake_quantize_per_token(x, 8, kind)
        return super().forward(x)

    @classmethod
    def unsupported(cls, shape: tuple[int, int], dtype: torch.dtype, config: RefCompressedTensorsConfig) -> str | None:
        w = config.weights
        if w.strategy == "group" and shape[1] % w.group_size:
            return f"compressed-tensors groups of {w.group_size} do not divide {shape[1]} input features"
        return None


class RefCompressedTensorsQuantizer(ReferenceQuantizer):
    linear_class = RefCompressedTensorsLinear

    @property
    def quantized_element_size(self) -> float:
        config = self.quantization_config
        return config.weights.num_bits / 8 if config.packed else 1.0

    def get_quantize_ops(self) -> QuantizeIntoModuleOp:
        return QuantizeIntoModuleOp(self)

    def _process_model_before_weight_loading(self, model: Any, **kwargs: Any) -> Any:
        config = self.quantization_config
        linears = [(name, m) for name, m in model.named_modules() if type(m) is nn.Linear]
        # a Linear whose weight is tied to another parameter cannot hold a quantized format
        self.modules_to_not_convert = (
            [name for name, module in linears if not config.selects(name, module)]
            + list(config.modules_to_not_convert or [])
            + tied_modules(model)
            + list(model._keep_in_fp32_modules or [])
        )
        replace_linears(model, self, self.modules_to_not_convert)
        return model


register_twin(RefCompressedTensorsConfig, RefCompressedTensorsQuantizer)
