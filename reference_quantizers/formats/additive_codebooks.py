"""Additive codebooks (AQLM, Egiazarian et al. 2024), in the layout of the ``aqlm`` package's ``QuantizedLinear``.

A weight of shape ``(out, in)`` is cut into groups of ``out_group_size x in_group_size``; group ``(o, i)``
is the sum of one vector from each of ``num_codebooks`` codebooks, times the scale of its output group:

    weight[o-group, i-group] = scales[o] * sum_c codebooks[c, codes[o, i, c]]

Stored tensors, as aqlm names, shapes and types them:

- ``codes``: ``(out / out_group_size, in / in_group_size, num_codebooks)``, the smallest signed integer
  type holding ``nbits_per_codebook`` bits (int8 for 8 bits, int16 for 16); a code ``k >= 2**(nbits-1)``
  is stored as ``k - 2**nbits`` (two's complement), and read back modulo ``2**nbits``.
- ``codebooks``: ``(num_codebooks, 2**nbits_per_codebook, out_group_size, in_group_size)``, float.
- ``scales``: ``(out / out_group_size, 1, 1, 1)``, float.

The learner here is deliberately simple (AQLM itself uses beam search and fine-tuning): scales first
(root mean square of each output group), then codebook ``c`` is fit by k-means on what codebooks
``0..c-1`` left unexplained, then each output group's scale is refit by least squares.
"""

from __future__ import annotations

import torch

#: Lloyd iterations of each codebook's k-means, and the seed of its initial centroids
KMEANS_ITERATIONS = 10
SEED = 0
#: elements of the (points x centroids) distance block computed at once, to bound memory
_DISTANCE_BLOCK = 1 << 25


def codes_dtype(nbits: int) -> torch.dtype:
    """The signed integer type aqlm stores ``nbits``-bit codes in."""
    for bits, dtype in ((8, torch.int8), (16, torch.int16), (32, torch.int32), (64, torch.int64)):
        if nbits <= bits:
            return dtype
    raise ValueError(f"no integer type holds {nbits}-bit codes")


def store_codes(codes: torch.Tensor, nbits: int) -> torch.Tensor:
    """Codes in ``[0, 2**nbits)`` -> aqlm's stored signed form (two's complement in ``nbits`` bits)."""
    wrapped = torch.where(codes >= 2 ** (nbits - 1), codes - 2**nbits, codes)
    return wrapped.to(codes_dtype(nbits))


def read_codes(stored: torch.Tensor, nbits: int) -> torch.Tensor:
    """aqlm's stored codes -> int64 codes in ``[0, 2**nbits)``."""
    return stored.to(torch.int64) % (2**nbits)


def layout(
    out_features: int, in_features: int, num_codebooks: int, nbits: int, in_group_size: int, out_group_size: int
) -> dict[str, tuple[tuple[int, ...], str]]:
    """Shapes of the stored tensors, and their kind ("codes" or "float")."""
    out_groups, in_groups = out_features // out_group_size, in_features // in_group_size
    return {
        "codes": ((out_groups, in_groups, num_codebooks), "codes"),
        "codebooks": ((num_codebooks, 2**nbits, out_group_size, in_group_size), "float"),
        "scales": ((out_groups, 1, 1, 1), "float"),
    }


def dequantize(codes: torch.Tensor, codebooks: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """The weight ``(out, in)`` in the codebooks' dtype.

    The codebook vectors are summed in float32 and rounded once (to nearest even) to the codebooks'
    dtype, then multiplied by the scale in that dtype: what aqlm's ``_dequantize_weight`` computes
    (``embedding_bag`` in ``sum`` mode, then ``mul(scales)``), bit for bit in float32 and float16. In
    bfloat16 on the CPU torch's ``embedding_bag`` rounds the float32 sum with ties away from zero.
    """
    out_groups, in_groups, num_codebooks = codes.shape
    _, codebook_size, out_group_size, in_group_size = codebooks.shape
    index = read_codes(codes, codebook_size.bit_length() - 1)
    groups = torch.zeros(out_groups, in_groups, out_group_size, in_group_size, device=codes.device)
    for c in range(num_codebooks):
        groups += codebooks[c].to(torch.float32)[index[..., c]]
    groups = groups.to(codebooks.dtype) * scales
    return groups.transpose(1, 2).reshape(out_groups * out_group_size, in_groups * in_group_size)


def _nearest(points: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of each point's nearest centroid (squared Euclidean; ties go to the lower index)."""
    norms = centroids.pow(2).sum(dim=1)
    rows = max(1, _DISTANCE_BLOCK // centroids.shape[0])
    # |p - c|^2 = |p|^2 - 2 p.c + |c|^2; |p|^2 is the same for every centroid
    return torch.cat([torch.addmm(norms, block, centroids.T, alpha=-2).argmin(dim=1) for block in points.split(rows)])


def _cluster_sums(points: torch.Tensor, assignment: torch.Tensor, k: int) -> torch.Tensor:
    """Sum of each cluster's points, in float64, the same on every run.

    On the CPU ``index_add_`` adds in order. On accelerators it adds with atomics, in an order that varies
    from run to run, so there the points are sorted by cluster and summed by a prefix sum instead.
    """
    if points.device.type != "cpu":
        return sorted_cluster_sums(points, assignment, k)
    return torch.zeros(k, points.shape[1], dtype=torch.float64).index_add_(0, assignment, points.to(torch.float64))


def sorted_cluster_sums(points: torch.Tensor, assignment: torch.Tensor, k: int) -> torch.Tensor:
    """Cluster sums without atomics: points sorted by cluster (stable), float64 prefix sums, differences."""
    counts = torch.bincount(assignment, minlength=k)
    ordered = points.to(torch.float64)[torch.argsort(assignment, stable=True)]
    prefix = torch.nn.functional.pad(ordered.cumsum(dim=0), (0, 0, 1, 0))
    ends = counts.cumsum(dim=0)
    return prefix[ends] - prefix[ends - counts]


def _cluster_means(points: torch.Tensor, assignment: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Mean of each cluster's points; an empty cluster keeps its centroid."""
    k = centroids.shape[0]
    counts = torch.bincount(assignment, minlength=k)[:, None]
    means = (_cluster_sums(points, assignment, k) / counts.clamp(min=1)).to(points.dtype)
    return torch.where(counts > 0, means, centroids)


def kmeans(
    points: torch.Tensor, k: int, iterations: int = KMEANS_ITERATIONS, seed: int = SEED
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means: (centroids ``(k, d)``, assignment ``(n,)``).

    Initial centroids are ``k`` distinct points drawn with a CPU generator seeded by ``seed`` (the same
    draw on every device). With no more points than centroids, every point is its own centroid.
    """
    n, d = points.shape
    if n <= k:
        centroids = torch.zeros(k, d, dtype=points.dtype, device=points.device)
        centroids[:n] = points
        return centroids, torch.arange(n, device=points.device)
    generator = torch.Generator().manual_seed(seed)
    centroids = points[torch.randperm(n, generator=generator)[:k].to(points.device)].clone()
    for _ in range(iterations):
        centroids = _cluster_means(points, _nearest(points, centroids), centroids)
    return centroids, _nearest(points, centroids)


def quantize(
    weight: torch.Tensor,
    num_codebooks: int,
    nbits: int,
    in_group_size: int,
    out_group_size: int,
    iterations: int = KMEANS_ITERATIONS,
    seed: int = SEED,
) -> dict[str, torch.Tensor]:
    """Learn ``codes``, ``codebooks`` and ``scales`` for ``weight`` (greedy residual k-means, see module doc).

    ``codebooks`` and ``scales`` come back in the weight's dtype, ``codes`` in aqlm's stored form.
    """
    out_features, in_features = weight.shape
    out_groups, in_groups = out_features // out_group_size, in_features // in_group_size
    groups = weight.to(torch.float32).reshape(out_groups, out_group_size, in_groups, in_group_size).transpose(1, 2)
    rms = groups.pow(2).mean(dim=(1, 2, 3)).sqrt()
    rms = torch.where(rms > 0, rms, torch.ones_like(rms))
    points = (groups / rms[:, None, None, None]).reshape(-1, out_group_size * in_group_size)

    residual, codebooks, codes = points, [], []
    for c in range(num_codebooks):
        centroids, assignment = kmeans(residual, 2**nbits, iterations, seed + c)
        centroids = centroids.to(weight.dtype).to(torch.float32)  # later codebooks fit what is stored
        residual = residual - centroids[assignment]
        codebooks.append(centroids)
        codes.append(assignment)

    # least-squares scale per output group: argmin_s |x - s r|^2 = <x, r> / <r, r>, x = weight, r = sum of vectors
    recon = (points - residual).reshape(out_groups, -1)
    target = groups.reshape(out_groups, -1)
    energy = recon.pow(2).sum(dim=1)
    fitted = (target * recon).sum(dim=1) / torch.where(energy > 0, energy, torch.ones_like(energy))
    scales = torch.where(energy > 0, fitted, rms)
    return {
        "codes": store_codes(torch.stack(codes, dim=-1).reshape(out_groups, in_groups, num_codebooks), nbits),
        "codebooks": torch.stack(codebooks)
        .reshape(num_codebooks, 2**nbits, out_group_size, in_group_size)
        .to(weight.dtype),
        "scales": scales.reshape(out_groups, 1, 1, 1).to(weight.dtype),
    }
