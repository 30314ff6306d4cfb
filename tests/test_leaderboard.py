"""Every number of the leaderboard, recomputed from the store's Parquet tables."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from regclip_bench.report import leaderboard
from regclip_bench.results import aggregate, load
from test_results import make_sweep


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("board")
    target = {"target.value": 0.08}
    runs = [dict(optimizer="delta_gclip", width=w, depth=1, lr=lr, gamma=0.3, delta=0.1, seed=s, steps=40,
                 log_every=5, eval_every=40, **target) for w in (8, 16) for lr in (0.3, 0.5) for s in (0, 1, 2)]
    runs += [dict(optimizer="sgd", width=8, depth=1, lr=lr, seed=s, steps=40, log_every=5, eval_every=40, **target)
             for lr in (1e-3, 1e4) for s in (0, 1, 2)]      # sgd: too slow to reach the target, or diverges
    make_sweep(root / "sweeps" / "teacher_mlp", "teacher_mlp-b", runs)
    aggregate(str(root / "sweeps" / "teacher_mlp"), str(root / "store"))
    return root / "store"


def test_every_number_matches_the_store(store, tmp_path):
    board = leaderboard.compute(str(store))
    trials = load(str(store), "trials")
    ran = [e for e in board["entries"] if e["status"] == "ran"]
    assert {e["optimizer"] for e in ran} == {"delta_gclip", "sgd"}
    assert {e["task"] for e in board["entries"] if e["status"] == "not yet run"} == {
        "cifar10_resnet18", "cifar10_vit", "digits_mlp", "fashion_mnist_vae"}
    for entry in ran:
        mine = trials[trials.optimizer == entry["optimizer"]]
        keys = ["width", "lr"]
        score = mine.assign(s=mine.final_loss.where(mine.status == "completed", math.inf)).groupby(keys).s.mean()
        best_key = score.idxmin()
        chosen = mine.set_index(keys).loc[[best_key]]
        assert entry["configuration"]["width"] == best_key[0] and entry["configuration"]["lr"] == best_key[1]
        finals = chosen[chosen.status == "completed"].final_loss.to_numpy()
        assert entry["seeds"] == 3 and entry["diverged"] == int((chosen.status == "diverged").sum())
        if len(finals) >= 2:
            assert entry["metric_mean"] == pytest.approx(finals.mean(), rel=1e-12)
            half = stats.t.ppf(0.975, len(finals) - 1) * finals.std(ddof=1) / math.sqrt(len(finals))
            assert entry["metric_ci95"] == pytest.approx(half, rel=1e-12)
        assert entry["steps_to_target_median"] == np.median(chosen.steps_to_target)
        assert entry["budget"]["trials"] == len(mine)
        near = (score <= score.min() * 1.1).sum() / len(score)
        assert entry["sensitivity"] == pytest.approx(near)
        assert entry["provenance"]["sweep_ids"] == ["teacher_mlp-b"]
    sgd = next(e for e in ran if e["optimizer"] == "sgd")
    assert sgd["steps_to_target_median"] == math.inf            # a miss is infinite
    profile = board["profile"]
    assert profile["scores"] == {"delta_gclip": 1.0, "sgd": 0.0}    # ... and a failure in the profile
    assert profile["rank"] == {"delta_gclip": 1, "sgd": 2}
    paths = leaderboard.write(board, tmp_path)
    saved = json.loads((tmp_path / "leaderboard.json").read_text())
    assert saved["schema"] == 1 and saved["entries"][-1]["task"] == "teacher_mlp"
    assert "not yet run" in (tmp_path / "leaderboard.md").read_text()
    assert "<table id='board'>" in (tmp_path / "index.html").read_text() and len(paths) == 3


def test_profile_integral_by_hand():
    scores = leaderboard.profile_scores({"t1": {"a": 1.0, "b": 2.0}, "t2": {"a": math.inf, "b": 1.0}})
    assert scores["a"] == pytest.approx(0.5)                     # ρ = 1/2 for every τ
    assert scores["b"] == pytest.approx((0.5 * 1 + 1.0 * 2) / 3, abs=0.01)   # ρ = 1/2 until τ = 2, then 1


def test_mean_ci_is_the_student_t_interval():
    mean, half = leaderboard.mean_ci([1.0, 2.0, 4.0])
    assert mean == pytest.approx(7 / 3)
    assert half == pytest.approx(stats.t.ppf(0.975, 2) * np.std([1, 2, 4], ddof=1) / math.sqrt(3))
    assert math.isnan(leaderboard.mean_ci([3.0])[1])
