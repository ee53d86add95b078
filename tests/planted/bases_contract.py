"""Correct building blocks for the contract bugs (merge, environment, device map), and their controls.

``ContractConfig`` validates its fields; ``LoadingConfig`` is a ``GPTQConfig`` so that transformers'
merge takes ``backend`` and ``max_input_length`` from the ``from_pretrained`` argument;
``ContractQuantizer`` keeps every clause of the contract while quantizing nothing, so it also loads.
Each bug module subclasses one of them and breaks one clause.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch
from hypothesis import strategies as st
from transformers import GPTQConfig, Mxfp4Config
from transformers.quantizers import HfQuantizer
from transformers.quantizers.auto import (
    AUTO_QUANTIZER_MAPPING,
    register_quantization_config,
    register_quantizer,
)
from transformers.utils.quantization_config import QuantizationConfigMixin

from qconform.inputs.strategies import optional, skip_lists
from qconform.inputs.tiny_models import tiny_checkpoint
from qconform.specs.model import Capabilities, Inputs, InvalidConfig, OffloadRule, Promises, QuantizerSpec, Requirement
from reference_quantizers.writers.cache import cached_checkpoint, retarget


class ContractConfig(QuantizationConfigMixin):
    """A correct config: typed fields, validated by post_init with messages that name the field."""

    KEY = "planted-control-contract"

    def __init__(
        self,
        bits: int = 8,
        group_size: int = 64,
        modules_to_not_convert: list | None = None,
        allow_offload: bool = False,
        **kwargs,
    ):
        self.quant_method = self.KEY
        self.bits = bits
        self.group_size = group_size
        self.modules_to_not_convert = modules_to_not_convert
        self.allow_offload = allow_offload
        self.post_init()

    def post_init(self):
        if self.bits not in (4, 8):
            raise ValueError(f"bits must be 4 or 8, got {self.bits!r}")
        if not isinstance(self.group_size, int) or self.group_size <= 0:
            raise ValueError(f"group_size must be a positive int, got {self.group_size!r}")
        if not isinstance(self.allow_offload, bool):
            raise TypeError(f"allow_offload must be a bool, got {self.allow_offload!r}")


class LoadingConfig(GPTQConfig):
    """A config with loading attributes (``backend``, ``max_input_length``), as transformers' merge knows them."""

    KEY = "planted-control-contract-loading"

    def __init__(self, bits: int = 4, **kwargs):
        kwargs.pop("quant_method", None)
        super().__init__(bits=bits, **kwargs)
        self.quant_method = self.KEY


class ContractQuantizer(HfQuantizer):
    """Keeps the contract and quantizes nothing: every parameter stays as it is."""

    requires_calibration = False
    required_module: str | None = None  # an import name validate_environment insists on
    needs_cuda = False

    def validate_environment(self, *args, **kwargs):
        module = self.required_module
        if module and importlib.util.find_spec(module) is None:
            raise ImportError(f"this quantizer requires {module}: `pip install {module}`")
        if self.needs_cuda and not torch.cuda.is_available():
            raise RuntimeError("this quantizer needs a CUDA GPU, and none is available")
        device_map = kwargs.get("device_map")
        if isinstance(device_map, dict) and not getattr(self.quantization_config, "allow_offload", True):
            values = set(device_map.values())
            if values & {"cpu", "disk"} and any(isinstance(v, int) for v in values):
                raise ValueError("modules on cpu or disk beside a GPU need allow_offload=True")

    def update_device_map(self, device_map):
        return {"": "cpu"} if device_map is None else device_map

    def adjust_max_memory(self, max_memory):
        return {key: value * 0.9 for key, value in max_memory.items()}

    def update_dtype(self, dtype):
        return dtype

    def is_serializable(self):
        return True

    @property
    def is_trainable(self):
        return False


class LinearWeightsQuantizer(ContractQuantizer):
    """Says every Linear weight but the output head needs quantization at one byte per element."""

    @property
    def quantized_element_size(self):
        return 1.0

    def param_needs_quantization(self, model, param_name, **kwargs):
        module_name, _, tensor = param_name.rpartition(".")
        module = model.get_submodule(module_name) if module_name else model
        return isinstance(module, torch.nn.Linear) and tensor == "weight" and not module_name.endswith("lm_head")

    def param_element_size(self, model, param_name, param):
        if self.param_needs_quantization(model, param_name):
            return self.quantized_element_size
        return param.element_size()


def register(key: str, config_class: type, quantizer_class: type) -> None:
    """Register ``config_class``/``quantizer_class`` under ``key`` (once per process)."""
    if key in AUTO_QUANTIZER_MAPPING:
        return
    register_quantization_config(key)(config_class)
    register_quantizer(key)(quantizer_class)


def contract_configs(config_class: type) -> st.SearchStrategy:
    return st.builds(
        config_class,
        bits=st.sampled_from([4, 8]),
        group_size=st.sampled_from([32, 64, 128]),
        modules_to_not_convert=skip_lists(),
    )


def loading_configs(config_class: type) -> st.SearchStrategy:
    return st.builds(
        config_class,
        bits=st.sampled_from([4, 8]),
        backend=st.sampled_from(["auto", "torch", "triton"]),
        max_input_length=optional(st.sampled_from([2048, 4096])),
    )


INVALID = (InvalidConfig({"bits": 3}, "bits"), InvalidConfig({"group_size": 0}, "group_size"))


def contract_spec(key: str, config_class: type, **changes) -> QuantizerSpec:
    """The spec of a ContractQuantizer target: on the fly and from checkpoints, on cpu and cuda."""
    spec = QuantizerSpec(
        method=key,
        inputs=Inputs(
            default_config=config_class,
            configs=lambda: contract_configs(config_class),
            invalid_configs=lambda: st.sampled_from(INVALID),
        ),
        promises=Promises(
            capabilities=Capabilities(quantizes_on_the_fly=True, loads_prequantized=True),
            offload_rule=OffloadRule(places=("cpu", "disk"), beside_accelerator=True, unless="allow_offload"),
        ),
    )
    return spec.replace(**changes)


def loading_spec(key: str, config_class: type) -> QuantizerSpec:
    return contract_spec(
        key,
        config_class,
        configs=lambda: loading_configs(config_class),
        invalid_configs=lambda: None,
        loading_attributes=("max_input_length", "backend"),
        offload_rule=None,
    )


PLANTED_BACKEND = Requirement("qconform_planted_backend", "qconform-planted-backend", None, "never installed")
# installed wherever qconform runs (pytest-xdist needs it), imported by nothing the checks import
HIDDEN_BACKEND = Requirement("execnet", "execnet", None, "pip install execnet")


class ControlQuantizer(LinearWeightsQuantizer):
    pass


class ControlLoadingQuantizer(ContractQuantizer):
    pass


class ControlBackendQuantizer(ContractQuantizer):
    required_module = PLANTED_BACKEND.import_name


class ControlHiddenQuantizer(ContractQuantizer):
    required_module = HIDDEN_BACKEND.import_name


class ControlAcceleratorQuantizer(ContractQuantizer):
    needs_cuda = True


class ControlAcceleratorConfig(ContractConfig):
    KEY = "planted-control-contract-accelerator"


class ControlBackendConfig(ContractConfig):
    KEY = "planted-control-contract-backend"


class ControlHiddenConfig(ContractConfig):
    KEY = "planted-control-contract-hidden"


class ControlPlainConfig(ContractConfig):
    KEY = "planted-control-contract-plain"


class ControlPlainQuantizer(ContractQuantizer):
    """Quantizes nothing and says so: the memory estimate is the full-precision size."""


class DequantizingConfig(Mxfp4Config):
    """A config with transformers' ``dequantize`` switch: a checkpoint loaded with it comes back a plain model
    (``HfQuantizer.postprocess_model`` calls ``remove_quantization_config``). An ``Mxfp4Config`` because merge takes
    loading attributes from the argument only for its own config types (quantizers/auto.py,
    ``LOADING_ATTRIBUTES_CONFIG_TYPES``)."""

    KEY = "planted-control-contract-dequantizing"

    def __init__(self, modules_to_not_convert: list | None = None, dequantize: bool = False, **kwargs):
        super().__init__(modules_to_not_convert=modules_to_not_convert, dequantize=dequantize)
        self.quant_method = self.KEY


def write_prequantized(method: str, arch: str, config: Any) -> Path:
    """The "pre-quantized" checkpoint of a quantizer that stores weights as they are: the tiny checkpoint with
    ``config`` in its config.json (written once per method, arch and config, as the twins' writers are)."""
    fields = config.to_dict()
    return cached_checkpoint(
        f"planted-{method}-{arch}",
        {"arch": arch, "quantization_config": fields},
        lambda staging: retarget(tiny_checkpoint(arch), fields, staging),
    )


def dequantizing_spec(key: str, config_class: type) -> QuantizerSpec:
    """Loads pre-quantized checkpoints (``write_prequantized``) with ``dequantize=True`` on every device."""
    return contract_spec(
        key,
        config_class,
        configs=lambda: st.builds(config_class),
        capabilities=Capabilities(quantizes_on_the_fly=False, loads_prequantized=True),
        checkpoint_writer="tests.planted.bases_contract:write_prequantized",
        loading_overrides={"cpu": {"dequantize": True}, "cuda": {"dequantize": True}},
        loading_attributes=("dequantize",),
    )


register(ContractConfig.KEY, ContractConfig, ControlQuantizer)
register(LoadingConfig.KEY, LoadingConfig, ControlLoadingQuantizer)
register(ControlBackendConfig.KEY, ControlBackendConfig, ControlBackendQuantizer)
register(ControlHiddenConfig.KEY, ControlHiddenConfig, ControlHiddenQuantizer)
register(ControlAcceleratorConfig.KEY, ControlAcceleratorConfig, ControlAcceleratorQuantizer)
register(ControlPlainConfig.KEY, ControlPlainConfig, ControlPlainQuantizer)
register(DequantizingConfig.KEY, DequantizingConfig, type("ControlDequantizingQuantizer", (ContractQuantizer,), {}))

CONTROL_SPECS = (
    contract_spec(ContractConfig.KEY, ContractConfig, quantized_element_size=1.0),
    loading_spec(LoadingConfig.KEY, LoadingConfig),
    contract_spec(ControlBackendConfig.KEY, ControlBackendConfig, requirements=(PLANTED_BACKEND,)),
    contract_spec(ControlHiddenConfig.KEY, ControlHiddenConfig, requirements=(HIDDEN_BACKEND,)),
    contract_spec(
        ControlAcceleratorConfig.KEY,
        ControlAcceleratorConfig,
        capabilities=Capabilities(quantizes_on_the_fly=True, needs_accelerator=True, loads_prequantized=False),
        devices=("cuda",),
    ),
    contract_spec(ControlPlainConfig.KEY, ControlPlainConfig),
    dequantizing_spec(DequantizingConfig.KEY, DequantizingConfig),
)
