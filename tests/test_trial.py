import copy
import math
import subprocess
import sys
from pathlib import Path

import pytest

from dataset_files import write_cifar10, write_fashion_mnist
from regclip_bench.config import resolve_trial
from regclip_bench.spec import load_task
from regclip_bench.trial import Reporter, run_trial
from regclip_bench.trial_io import read_trial

ROOT = Path(__file__).resolve().parent.parent
TIMING = {"examples_per_s"}


def trial(task, **overrides):
    return run_trial(resolve_trial(load_task(task), overrides))


def test_wide_teacher_mlp_with_delta_gclip_is_in_the_theorys_regime():
    result = trial("teacher_mlp", width=1024, depth=2, steps=300)
    steps = result["steps"]
    assert result["status"] == "completed"
    assert steps[-1]["loss"] <= steps[0]["loss"] / 100           # ≥ 100× in a few hundred steps
    assert result["min_pl_ratio"] > 1e-3                          # PL ratio bounded away from 0
    assert result["loss_rate"] < 0.995 and result["loss_log_slope"] < 0   # geometric decay
    assert result["max_dist_from_init"] < 10                      # weights stay near w0
    fractions = [result[f"frac_{r}"] for r in ("unclipped", "clipped", "floor")]
    assert math.isclose(sum(fractions), 1.0) and result["frac_clipped"] > 0   # clipped at the start
    for row in steps:
        assert math.isclose(row["pl_ratio"], row["grad_norm"] ** 2 / row["loss"])
        assert math.isclose(row["step_size"], row["clip_factor"] * row["lr"])
        assert 0.1 <= row["clip_factor"] <= 1.0                   # h ∈ [ηδ, η]


def test_delta_floor_is_recognised():
    result = trial("teacher_mlp", width=64, steps=20, log_every=1, gamma=1e-4, delta=0.1)
    rows = result["steps"]
    assert rows[0]["regime"] == "floor" and rows[0]["frac_floor"] == 1.0
    assert rows[0]["clip_factor"] == pytest.approx(0.1) and result["frac_floor"] == 1.0
    assert result["frac_unclipped"] == 0.0 and result["frac_clipped"] == 0.0


def test_same_seed_same_metrics_bit_for_bit():
    for task, overrides in (("teacher_mlp", dict(width=64, steps=40)),
                            ("digits_mlp", dict(width=32, steps=30, optimizer="gclip"))):
        a, b = trial(task, **overrides), trial(task, **overrides)
        strip = [[{k: v for k, v in row.items() if k not in TIMING} for row in r["steps"]] for r in (a, b)]
        assert strip[0] == strip[1] and a["evals"] == b["evals"]
        c = trial(task, **overrides, seed=1)
        assert c["steps"][-1]["loss"] != a["steps"][-1]["loss"]


def test_huge_learning_rate_is_a_diverged_result_not_an_exception():
    result = trial("teacher_mlp", width=64, steps=200, optimizer="sgd", lr=1e4)
    assert result["status"] == "diverged"
    assert result["steps_done"] < 200 and not math.isfinite(result["final_loss"])
    assert result["steps_to_target"] == math.inf


def test_clipping_keeps_the_huge_learning_rate_finite():
    result = trial("teacher_mlp", width=64, steps=50, optimizer="gclip", lr=1e4, gamma=1e-4)
    assert result["status"] == "completed"


def test_digits_with_adam_beats_90_percent():
    result = trial("digits_mlp", optimizer="adam", lr=1e-3, epochs=10)
    assert result["final_test_accuracy"] > 0.9
    assert result["steps_to_target"] < math.inf and result["seconds_to_target"] > 0


def test_non_clipping_optimizers_log_grad_norm_and_pl_ratio():
    result = trial("teacher_mlp", width=64, steps=20, optimizer="adam", lr=1e-3)
    row = result["steps"][-1]
    assert row["grad_norm"] > 0 and math.isclose(row["pl_ratio"], row["grad_norm"] ** 2 / row["loss"])
    assert row["regime"] is None and math.isnan(result["frac_clipped"])


def test_steps_to_target_is_the_first_step_under_the_target():
    result = trial("teacher_mlp", width=256, steps=120, log_every=1, **{"target.value": 0.05})
    first = next(r["step"] for r in result["steps"] if r["loss"] <= 0.05)
    assert 1 < first < 120 and result["steps_to_target"] == first
    missed = trial("teacher_mlp", width=64, steps=10, **{"target.value": 1e-12})
    assert missed["steps_to_target"] == math.inf and missed["seconds_to_target"] == math.inf


def test_a_run_that_ends_above_its_initial_loss_is_no_progress_not_completed():
    # η = 30: the loss settles into a period-2 oscillation (≈ 11 and 33), above 0.53 at w₀ in both
    # phases.  (At η = 10 the two phases are 7.7 and 0.18: the final weights are better than w₀.)
    result = trial("teacher_mlp", optimizer="gclip", lr=30.0, gamma=0.3, depth=3, width=64, steps=100)
    assert result["status"] == "no_progress"
    assert math.isfinite(result["final_train_loss"]) and result["final_train_loss"] >= result["initial_loss"]
    assert result["initial_loss"] == result["evals"][0]["train_loss"]       # the whole set, at w₀
    assert math.isclose(result["initial_loss"], result["steps"][0]["loss"], rel_tol=1e-6)   # full batch: the same


def test_second_half_rate_fits_better_than_the_whole_run_and_distance_is_relative():
    result = trial("teacher_mlp", width=256, steps=300)
    assert 0 < result["loss_rate_r2"] < result["loss_rate_second_half_r2"] <= 1
    assert result["loss_rate_second_half_r2"] > 0.99              # each window is cleanly geometric
    assert result["loss_rate"] < result["loss_rate_second_half"] < 1  # fast, then slower
    for row in result["steps"]:
        assert row["rel_dist_from_init"] == pytest.approx(row["dist_from_init"] / result["w0_norm"], rel=1e-12)
    assert result["max_rel_dist_from_init"] == pytest.approx(result["max_dist_from_init"] / result["w0_norm"])
    assert result["final_pl_ratio"] == result["steps"][-1]["pl_ratio"] >= result["min_pl_ratio"]
    assert result["evals"][0]["step"] == 0 and result["initial_test_loss"] == result["evals"][0]["test_loss"]


def test_trial_records_its_workload_configuration_and_trial_keys():
    from regclip_bench.identity import trial_key
    config = resolve_trial(load_task("teacher_mlp"), dict(width=64, depth=4, steps=5))
    result = run_trial(config)
    assert result["workload"] == "teacher_mlp[depth=4,steps=5,width=64]"
    assert result["trial_key"] == trial_key(config)
    assert len({result["workload_key"], result["config_key"], result["trial_key"]}) == 3


def test_lr_milestones_decay_eta():
    result = trial("teacher_mlp", width=32, steps=30, log_every=10,
                   **{"budget.lr_milestones": [10, 20], "budget.lr_decay": 0.5})
    assert [round(r["lr"], 6) for r in result["steps"]] == [0.5, 0.5, 0.25, 0.125]


def test_reporter_sees_every_row():
    class Collect(Reporter):
        def __init__(self):
            self.logs, self.evals, self.total = [], [], None

        def start(self, total_steps):
            self.total = total_steps

        def log(self, row):
            self.logs.append(row)

        def eval(self, row):
            self.evals.append(row)

    seen = Collect()
    result = run_trial(resolve_trial(load_task("teacher_mlp"), dict(width=32, steps=25, log_every=10,
                                                                      eval_every=20)), seen)
    assert seen.total == 25 and [r["step"] for r in seen.logs] == [1, 10, 20, 25]
    assert [r["step"] for r in seen.evals] == [0, 20, 25] and seen.logs == result["steps"]   # 0: at w₀


def test_vae_trial_on_fashion_mnist_files(tmp_path):
    write_fashion_mnist(tmp_path, n_train=20, n_test=10)
    result = trial("fashion_mnist_vae", steps=4, log_every=2, eval_every=4, batch_size=10,
                   **{"data.root": str(tmp_path), "data.verify_checksums": False})
    assert result["status"] in ("completed", "no_progress")          # 4 steps on random pixels
    assert result["final_test_loss"] > 0 and "final_test_elbo" not in result   # not an ELBO: named for what it is
    assert result["steps"][0]["regime"] in ("unclipped", "clipped", "floor")


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="no Fashion-MNIST here (Debian: apt-get install dataset-fashion-mnist; .ci/run installs it)")
def test_the_papers_vae_trains_an_epoch_on_the_real_fashion_mnist_with_no_flag():
    result = trial("fashion_mnist_vae", epochs=1)
    assert result["status"] == "completed" and result["total_steps"] == 600 and result["param_count"] == 91_984
    assert result["final_test_loss"] < result["initial_test_loss"]       # test loss falls
    assert [e["step"] for e in result["evals"]] == [0, 600]


def test_resnet_and_vit_trials_on_cifar10_files(tmp_path):
    write_cifar10(tmp_path)
    for task, extra in (("cifar10_resnet18", dict(width=4, depth=10)), ("cifar10_vit", dict(width=12, depth=1))):
        result = trial(task, steps=2, batch_size=8, log_every=1, eval_every=2,
                       **{"data.root": str(tmp_path), "data.verify_checksums": False}, **extra)
        assert result["status"] in ("completed", "no_progress") and 0 <= result["final_test_accuracy"] <= 1


def test_train_command_writes_parquet(tmp_path):
    out = tmp_path / "trial.parquet"
    done = subprocess.run([sys.executable, "-m", "regclip_bench.cli", "train", "teacher_mlp",
                           "--set", "width=64", "--set", "steps=30", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "loss_rate" in done.stdout and "status               completed" in done.stdout
    table, summary, evals = read_trial(out)
    assert table.column("step").to_pylist() == [1, 10, 20, 30]
    assert "loss" in table.column_names and "clip_factor" in table.column_names
    assert summary["status"] == "completed" and summary["config"]["width"] == 64
    assert evals[-1]["step"] == 30
    assert [p.name for p in tmp_path.iterdir()] == ["trial.parquet"]   # no temporary left behind


def test_resuming_from_a_checkpoint_reproduces_the_uninterrupted_run():
    class Keep(Reporter):
        def __init__(self):
            self.states = {}

        def checkpoint(self, step, state):
            self.states[step] = copy.deepcopy(state())

    for task, overrides in (("teacher_mlp", dict(width=64, steps=60, eval_every=20, log_every=5)),
                            ("digits_mlp", dict(width=32, steps=50, eval_every=20, optimizer="adam", lr=1e-3))):
        config = resolve_trial(load_task(task), overrides)
        keep = Keep()
        whole = run_trial(config, keep)
        assert sorted(keep.states) == [20, 40]
        resumed = run_trial(config, resume=keep.states[20])
        assert resumed["resumed_from_step"] == 20 and whole["resumed_from_step"] == 0
        strip = [[{k: v for k, v in row.items() if k not in TIMING} for row in r["steps"]]
                 for r in (whole, resumed)]
        assert strip[0] == strip[1] and whole["evals"] == resumed["evals"]
        assert whole["steps_to_target"] == resumed["steps_to_target"]
