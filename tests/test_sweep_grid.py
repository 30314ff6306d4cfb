"""Planning a sweep: the grid, its deduplication and the trial keys (no Ray needed)."""

import pytest

from regclip_bench.errors import ConfigError
from regclip_bench.spec import load_task
from regclip_bench.sweep.grid import plan_grid, trial_key

TASK = load_task("teacher_mlp")


def test_cartesian_product_per_optimizer_without_foreign_hyperparameters():
    trials = plan_grid(TASK, grid={"width": [32, 64], "depth": [1, 2], "lr": [0.1, 0.3],
                                   "gamma": [0.5, 1.0], "delta": [0.01]},
                       optimizers=["delta_gclip", "adam"], seeds=2)
    by = {}
    for t in trials:
        by.setdefault(t.config.optimizer, []).append(t)
    assert len(by["delta_gclip"]) == 2 * 2 * 2 * 2 * 1 * 2      # width·depth·lr·gamma·delta·seed
    assert len(by["adam"]) == 2 * 2 * 2 * 2                     # γ and δ not multiplied in
    assert all(set(t.config.hparams) == {"lr", "beta1", "beta2", "eps", "weight_decay"} for t in by["adam"])
    assert len({t.key for t in trials}) == len(trials)


def test_default_search_space_fills_missing_keys():
    trials = plan_grid(TASK, grid={"width": [64], "depth": [1]}, optimizers=["gclip"], seeds=1)
    space = TASK.search_space.optimizers["gclip"]
    assert len(trials) == len(space["lr"]) * len(space["gamma"])


def test_fixed_values_apply_where_accepted_and_duplicates_collapse():
    trials = plan_grid(TASK, grid={"width": [64, 64], "depth": [1], "lr": [0.1]},
                       fixed={"gamma": 2.0, "steps": 7}, optimizers=["gclip", "sgd"], seeds=1)
    assert len(trials) == 2
    gclip, sgd = sorted(trials, key=lambda t: t.config.optimizer)
    assert gclip.config.hparams == {"lr": 0.1, "gamma": 2.0, "weight_decay": 0.0}
    assert sgd.config.hparams == {"lr": 0.1, "weight_decay": 0.0}
    assert gclip.config.task.budget.steps == 7


def test_keys_are_stable_and_depend_on_everything_that_changes_a_result():
    one = plan_grid(TASK, grid={"width": [64], "depth": [1], "lr": [0.1]}, optimizers=["sgd"], seeds=1)
    again = plan_grid(TASK, grid={"width": [64], "depth": [1], "lr": [0.1]}, optimizers=["sgd"], seeds=1)
    assert one[0].key == again[0].key == trial_key(one[0].config)
    for change in ({"lr": [0.2]}, {"width": [65]}, {"steps": [301]}, {"data.n": [65]}):
        grid = {"width": [64], "depth": [1], "lr": [0.1], **change}
        other = plan_grid(TASK, grid=grid, optimizers=["sgd"], seeds=1)
        assert other[0].key != one[0].key, change


def test_a_bad_grid_point_is_named():
    with pytest.raises(ConfigError, match=r"grid point .*lr=-0.5: optimizer sgd: invalid lr=-0.5: must be a finite number > 0"):
        plan_grid(TASK, grid={"lr": [0.1, -0.5]}, optimizers=["sgd"], seeds=1)
    with pytest.raises(ConfigError, match="unknown optimizer 'no_such_optimizer'"):
        plan_grid(TASK, optimizers=["no_such_optimizer"])
    with pytest.raises(ConfigError, match="no values for lr"):
        plan_grid(TASK, optimizers=["sgd_momentum"])   # not in teacher_mlp's search space or defaults


def test_the_main_jobs_quick_grid_crosses_sgds_stability_limit():
    """`regclip-bench run teacher_mlp` shows the methods apart: η on both sides of SGD's limit, γ below ‖∇L‖."""
    from regclip_bench.sweep.grid import plan_quick
    trials = plan_quick(TASK)
    lrs = {o: sorted({t.config.hparams["lr"] for t in trials if t.config.optimizer == o})
           for o in ("delta_gclip", "gclip", "sgd", "adam")}
    assert lrs == {"delta_gclip": [0.3, 3.0], "gclip": [0.3, 3.0], "sgd": [0.3, 3.0], "adam": [1e-3]}
    assert {t.config.hparams["gamma"] for t in trials if t.config.optimizer in ("delta_gclip", "gclip")} == {0.01}
    assert len(trials) == 42


def test_beta1_and_beta2_are_grid_axes_like_any_hyperparameter():
    trials = plan_grid(TASK, grid={"width": [64], "depth": [1], "lr": [1e-3], "beta1": [0.8, 0.9],
                                   "beta2": [0.99, 0.999]}, optimizers=["adam", "sgd"], seeds=1)
    adam = sorted((t.config.hparams["beta1"], t.config.hparams["beta2"]) for t in trials if t.config.optimizer == "adam")
    assert adam == [(0.8, 0.99), (0.8, 0.999), (0.9, 0.99), (0.9, 0.999)]
    assert [t.config.hparams for t in trials if t.config.optimizer == "sgd"] == [{"lr": 1e-3, "weight_decay": 0.0}]


def test_minus_zero_and_zero_are_one_value_with_one_trial_key():
    from regclip_bench.config import parse_value, resolve_trial
    task = load_task("teacher_mlp")
    trials = plan_grid(task, {"width": [8], "depth": [1], "lr": [0.5], "gamma": [0.3], "delta": [0.0, parse_value("-0.0")]},
                       {}, ["delta_gclip"], 1)
    assert len(trials) == 1
    assert trial_key(resolve_trial(task, {"delta": -0.0})) == trial_key(resolve_trial(task, {"delta": 0.0}))
