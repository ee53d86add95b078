"""VPTQ checkpoints of the tiny models, in the layout vptq's ``VQuantLinear`` loads.

vptq 0.0.5 ships no quantizer for transformers models (its checkpoints come from the VPTQ algorithm's own
repository) and its wheel is for Python 3.12 only, so the writer learns the codebook itself: the simplest
configuration ``VQuantLinear`` accepts, one group (``group_num`` 1, ``group_size`` = in_features), no residual
codebook, no outlier columns, ``enable_norm`` (a scale and a bias per input column) and ``enable_perm`` (input
columns ordered by decreasing norm). Each column of the normalised weight is cut into vectors of
``vector_len`` consecutive output rows (``vector_quant_dim`` "out"), and a k-means of ``num_centroids``
centroids in plain torch codes them. What each converted Linear stores:

- ``centroids.weight`` (1, num_centroids * vector_len), the checkpoint's dtype (an ``nn.Embedding``);
- ``indices`` int32 (1, ceil(out / vector_len), ceil(in * index_bits / 32)): for output block ``i`` and stored
  column ``c`` the centroid index, ``index_bits = log2(num_centroids)`` bits each, packed along the columns from
  the least significant bit up (``vptq.utils.pack.pack_index``);
- ``perm`` int16 (in,): stored column ``k`` is input column ``perm[k]``;
- ``weight_scale``, ``weight_bias`` (in,), per input column (``ops.dequant`` applies them after undoing the
  permutation): weight = centroid value * scale + bias;
- ``bias`` where the Linear has one.

``config.json`` lists every converted Linear in ``config_for_layers`` (transformers looks a Linear up there by its
full name; its ``shared_layer_config`` fallback keys on the second component of the name, e.g. "layers").
``decode`` reads the tensors back as vptq's pure-torch ``ops.dequant`` does for this configuration.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reference_quantizers.writers.cache import config_object, package_versions, state_dict_checkpoint

#: bump when what this writer writes changes (the cache key)
FORMAT_VERSION = 1
#: the main component's settings; the first element of each pair is the outlier component's (-1: none)
VECTOR_LEN, NUM_CENTROIDS, KMEANS_ITERATIONS = 4, 256, 25


def layer_config(in_features: int, out_features: int, bias: bool, vector_len: int, num_centroids: int) -> dict:
    """One Linear's entry of ``config_for_layers`` (the fields ``VQuantLinear`` and ``VptqLayerConfig`` take)."""
    if num_centroids < 2 or num_centroids & (num_centroids - 1):
        raise ValueError(f"num_centroids must be a power of two (packed indices), not {num_centroids}")
    return {
        "bias": bias,
        "enable_norm": True,
        "enable_perm": True,
        "group_num": 1,
        "group_size": in_features,
        "in_features": in_features,
        "indices_as_float": False,
        "is_indice_packed": True,
        "num_centroids": [-1, num_centroids],
        "num_res_centroids": [-1, -1],
        "out_features": out_features,
        "outlier_size": 0,
        "vector_lens": [-1, vector_len],
    }


def kmeans(vectors: torch.Tensor, count: int, iterations: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(centroids, assignment) of Lloyd's k-means from ``count`` distinct vectors drawn with ``seed``; an
    emptied cluster keeps its centroid."""
    if vectors.shape[0] < count:
        raise ValueError(f"{vectors.shape[0]} vectors cannot seed {count} centroids")
    generator = torch.Generator().manual_seed(seed)
    centroids = vectors[torch.randperm(vectors.shape[0], generator=generator)[:count]].clone()
    for _ in range(iterations):
        assignment = torch.cdist(vectors, centroids).argmin(1)
        sums = torch.zeros_like(centroids).index_add_(0, assignment, vectors)
        members = torch.bincount(assignment, minlength=count).unsqueeze(1)
        centroids = torch.where(members > 0, sums / members.clamp_min(1), centroids)
    return centroids, torch.cdist(vectors, centroids).argmin(1)


def pack_indices(indices: torch.Tensor, bits: int) -> torch.Tensor:
    """int32 words holding ``indices`` (..., n) at ``bits`` each along the last dim, least significant first."""
    stream = ((indices.unsqueeze(-1) >> torch.arange(bits)) & 1).flatten(-2)
    stream = nn.functional.pad(stream, (0, -stream.shape[-1] % 32)).unflatten(-1, (-1, 32))
    words = (stream << torch.arange(32)).sum(-1)
    return torch.where(words >= 2**31, words - 2**32, words).to(torch.int32)


def unpack_indices(words: torch.Tensor, bits: int, count: int) -> torch.Tensor:
    """The first ``count`` indices of ``bits`` each held by int32 ``words`` along the last dim (int64)."""
    stream = ((words.to(torch.int64).unsqueeze(-1) >> torch.arange(32)) & 1).flatten(-2)[..., : count * bits]
    return (stream.unflatten(-1, (count, bits)) << torch.arange(bits)).sum(-1)


def quantize_linear(
    weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype, layer: dict, seed: int
) -> dict[str, torch.Tensor]:
    """The tensors ``VQuantLinear`` holds for ``weight`` (out, in) under ``layer`` (see ``layer_config``)."""
    out_features, in_features = weight.shape
    vector_len, num_centroids = layer["vector_lens"][1], layer["num_centroids"][1]
    w = weight.detach().float()
    perm = torch.argsort(w.norm(dim=0), descending=True, stable=True)
    w = w[:, perm]
    scale = w.std(0, unbiased=False)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale)).to(dtype)
    shift = w.mean(0).to(dtype)
    normalised = (w - shift.float()) / scale.float()
    # ops.dequant undoes the permutation before it applies the norm: scale and bias go in input column order
    weight_scale, weight_bias = torch.empty_like(scale), torch.empty_like(shift)
    weight_scale[perm], weight_bias[perm] = scale, shift
    padded = nn.functional.pad(normalised, (0, 0, 0, -out_features % vector_len))  # rows: whole vectors
    vectors = padded.T.reshape(-1, vector_len)  # column by column, vector_len consecutive rows each
    centroids, _ = kmeans(vectors, num_centroids, KMEANS_ITERATIONS, seed)
    centroids = centroids.to(dtype)
    assignment = torch.cdist(vectors, centroids.float()).argmin(1)  # against the centroids as stored
    indices = assignment.reshape(in_features, -1).T.unsqueeze(0)  # (1, out blocks, stored columns)
    tensors = {
        "centroids.weight": centroids.reshape(1, -1),
        "indices": pack_indices(indices, int(math.log2(num_centroids))),
        "perm": perm.to(torch.int16),
        "weight_scale": weight_scale,
        "weight_bias": weight_bias,
    }
    if bias is not None:
        tensors["bias"] = bias.detach().to(dtype)
    return tensors


def decode(tensors: dict[str, torch.Tensor], layer: dict) -> torch.Tensor:
    """The weight (out, in) the tensors hold, in the centroids' dtype: vptq's ``ops.dequant`` for one group,
    no residual and no outliers (centroids gathered per output block, the permutation undone, then the norm)."""
    if layer["group_num"] != 1 or layer["num_res_centroids"][1] > 0 or layer["outlier_size"]:
        raise ValueError("decode reads one group without residual or outliers, the configuration written here")
    vector_len, num_centroids = layer["vector_lens"][1], layer["num_centroids"][1]
    out_features, in_features = layer["out_features"], layer["in_features"]
    centroids = tensors["centroids.weight"].reshape(num_centroids, vector_len)
    indices = unpack_indices(tensors["indices"][0], int(math.log2(num_centroids)), layer["group_size"])
    blocks = centroids[indices]  # (out blocks, stored columns, vector_len)
    stored = blocks.permute(0, 2, 1).reshape(-1, in_features)[:out_features]
    perm = tensors["perm"].view(torch.uint16).to(torch.int64)
    weight = torch.empty_like(stored)
    weight[:, perm] = stored
    return weight * tensors["weight_scale"] + tensors["weight_bias"]


def vptq_config(config: Any = None) -> Any:
    """A ``VptqConfig`` for ``config`` (None: its defaults; a dict: its fields)."""
    return config_object("VptqConfig", config)


def converted_linears(model: nn.Module, config: Any) -> list[str]:
    """The Linears ``VptqHfQuantizer`` replaces under ``config`` (its own skip rules)."""
    from transformers.quantizers.quantizer_vptq import VptqHfQuantizer
    from transformers.quantizers.quantizers_utils import should_convert_module

    quantizer = VptqHfQuantizer(config)
    skip = quantizer.get_modules_to_not_convert(model, config.modules_to_not_convert, model._keep_in_fp32_modules)
    return [n for n, m in model.named_modules() if type(m) is nn.Linear and should_convert_module(n, skip)]


def quantized_state_dict(
    model: nn.Module, config: Any, dtype: torch.dtype, seed: int = 0
) -> tuple[dict[str, torch.Tensor], dict[str, dict]]:
    """``model``'s state dict in ``dtype`` with each converted Linear's weight replaced by VPTQ's tensors, and
    ``config_for_layers``. A Linear ``config`` already describes keeps its vector length and centroid count."""
    state = {k: v.detach().to(dtype) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    layers: dict[str, dict] = {}
    for name in converted_linears(model, config):
        module = model.get_submodule(name)
        given = config.config_for_layers.get(name, {})
        layer = layer_config(
            module.in_features,
            module.out_features,
            module.bias is not None,
            given.get("vector_lens", [-1, VECTOR_LEN])[1],
            given.get("num_centroids", [-1, NUM_CENTROIDS])[1],
        )
        for key in ("weight", "bias"):
            state.pop(f"{name}.{key}", None)
        for key, tensor in quantize_linear(module.weight, module.bias, dtype, layer, seed).items():
            state[f"{name}.{key}"] = tensor
        layers[name] = layer
    return state, layers


def prequantized_checkpoint(
    method_key: str = "vptq",
    arch: str = "llama",
    config: Any = None,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float16,
) -> Path:
    """The cached VPTQ checkpoint of the tiny ``arch`` (learnt from its float32 weights, saved in ``dtype``)."""
    if method_key != "vptq":
        raise ValueError(f"the VPTQ writer writes 'vptq' checkpoints, not {method_key!r}")
    loaded = vptq_config(config)
    given = loaded.to_dict()

    def quantize(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        state, layers = quantized_state_dict(model, loaded, dtype, seed)
        return state, {"config_for_layers": layers, "shared_layer_config": {}}

    return state_dict_checkpoint(
        method_key,
        arch,
        given,
        quantize,
        seed=seed,
        dtype=dtype,
        model_dtype=torch.float32,
        depends_on={
            "format": FORMAT_VERSION,
            "kmeans": [VECTOR_LEN, NUM_CENTROIDS, KMEANS_ITERATIONS],
            "versions": package_versions("vptq"),
        },
    )
