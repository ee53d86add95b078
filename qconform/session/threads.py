"""CPU threads per xdist worker: each worker gets its share of the cores, not all of them.

torch sizes its intra-op pool to every core in each process; with two workers on two cores the
pools fight, and codecs made of many small ops (k-means, GPTQ's column updates, HQQ's optimiser) run
up to 30 times slower (measured: ref-aqlm's numerics, 87 s against 2.5 s per check).
"""

from __future__ import annotations

import os


def share_cpus(workers: int) -> int | None:
    """Give this worker ``cores // workers`` torch threads (at least one); None where the user chose
    (``OMP_NUM_THREADS`` set) and nothing was changed."""
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // max(1, workers))
    torch.set_num_threads(threads)
    return threads
