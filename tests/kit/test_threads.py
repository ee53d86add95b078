"""Each xdist worker gets its share of the cores for torch's thread pool, unless the user chose."""

from __future__ import annotations

import os

import pytest
import torch

from qconform.session.threads import share_cpus


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_workers_split_the_cores(restore_threads, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = len(os.sched_getaffinity(0))
    assert share_cpus(cores) == 1 and torch.get_num_threads() == 1
    assert share_cpus(1) == cores and torch.get_num_threads() == cores
    assert share_cpus(4 * cores) == 1  # never zero


def test_an_explicit_omp_num_threads_wins(restore_threads, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    assert share_cpus(1) is None and torch.get_num_threads() == 1
