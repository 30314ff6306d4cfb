"""Fixtures shared by several test modules (helpers to import are in stores.py, dataset_files.py and
plugin_sources.py)."""

import os

import pytest
import torch

from regclip_bench.results import aggregate
from stores import make_sweep


if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two test processes share the machine's cores (pyproject: -n 2), beside the Ray workers some tests
    # start: one torch thread each, as Ray gives its workers, instead of every process taking every core.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    """A store of 36 real teacher_mlp trials (δ-GClip at two widths, SGD too slow or diverging): the
    leaderboard and browser tests read it; those that add to it work on a copy."""
    root = tmp_path_factory.mktemp("board")
    target = {"target.value": 0.08}
    runs = [dict(optimizer="delta_gclip", width=w, depth=1, lr=lr, gamma=0.3, delta=0.1, seed=s, steps=40,
                 log_every=5, eval_every=40, **target) for w in (8, 16) for lr in (0.3, 0.5) for s in (0, 1, 2)]
    runs += [dict(optimizer="sgd", width=8, depth=1, lr=lr, seed=s, steps=40, log_every=5, eval_every=40, **target)
             for lr in (1e-3, 1e4) for s in (0, 1, 2)]      # sgd: too slow to reach the target, or diverges
    make_sweep(root / "sweeps" / "teacher_mlp", "teacher_mlp-b", runs)
    aggregate(str(root / "sweeps" / "teacher_mlp"), str(root / "store"))
    return root / "store"
