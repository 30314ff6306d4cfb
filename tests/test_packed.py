"""Packed trials (issue 14): K configurations of one workload trained together with torch.func,
each member's record equal to the unpacked trial's."""

import io
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from regclip_bench.config import resolve_trial
from regclip_bench.packed import run_pack
from regclip_bench.packing import PackError
from regclip_bench.spec import load_task
from regclip_bench.results import load
from regclip_bench.trial import Reporter, run_trial

ROOT = Path(__file__).resolve().parent.parent

SMALL_TEACHER = dict(width=32, depth=2, steps=60, log_every=10, eval_every=30)
SMALL_DIGITS = dict(width=32, depth=1, epochs=2, log_every=10, eval_every=28)


def configs(task, grid, **common):
    return [resolve_trial(load_task(task), {**common, **point}) for point in grid]


def assert_same_record(packed, unpacked, rel=1e-4, abs=1e-7):
    assert packed["status"] == unpacked["status"]
    assert packed["steps_done"] == unpacked["steps_done"]
    assert [r["step"] for r in packed["steps"]] == [r["step"] for r in unpacked["steps"]]
    for mine, theirs in zip(packed["steps"], unpacked["steps"]):
        for key in ("loss", "loss_avg", "best_loss", "grad_norm", "dist_from_init", "clip_factor", "lr"):
            if key in theirs and math.isfinite(theirs[key]):
                assert mine[key] == pytest.approx(theirs[key], rel=rel, abs=abs), (key, mine["step"])
        for key in ("n_unclipped", "n_clipped", "n_floor", "nonfinite", "nonfinite_steps", "floor"):
            assert mine.get(key) == theirs.get(key), (key, mine["step"])
    assert [e["step"] for e in packed["evals"]] == [e["step"] for e in unpacked["evals"]]
    for mine, theirs in zip(packed["evals"], unpacked["evals"]):
        for key, value in theirs.items():
            if isinstance(value, float) and math.isfinite(value):
                assert mine[key] == pytest.approx(value, rel=rel, abs=abs), key
    for key in ("trial_key", "config_key", "workload_key", "frac_clipped", "frac_floor", "steps_to_target"):
        assert packed[key] == unpacked[key] or (packed[key] != packed[key] and unpacked[key] != unpacked[key]), key


def test_eight_packed_delta_gclip_members_equal_their_unpacked_trials():
    grid = [dict(lr=lr, gamma=gamma, seed=seed) for lr in (0.3, 3.0) for gamma in (0.01, 1.0) for seed in (0, 1)]
    members = configs("teacher_mlp", grid, optimizer="delta_gclip", delta=0.1, **SMALL_TEACHER)
    packed = run_pack(members)
    assert len(packed) == 8
    for config, record in zip(members, packed):
        assert_same_record(record, run_trial(config))
    assert any(r["frac_floor"] > 0 for r in packed) and any(r["frac_clipped"] > 0 for r in packed)


def test_in_float64_packed_members_equal_their_unpacked_trials_to_1e_10():
    """The float32 tolerance is the reductions' order, not a difference in what is computed: in float64
    the same eight members agree to 10⁻¹⁰ relative."""
    grid = [dict(lr=lr, gamma=gamma, seed=seed) for lr in (0.3, 3.0) for gamma in (0.01, 1.0) for seed in (0, 1)]
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        members = configs("teacher_mlp", grid, optimizer="delta_gclip", delta=0.1, **SMALL_TEACHER)
        packed = run_pack(members)
        unpacked = [run_trial(config) for config in members]
    finally:
        torch.set_default_dtype(saved)
    for record, theirs in zip(packed, unpacked):
        assert_same_record(record, theirs, rel=1e-10, abs=1e-13)
    assert any(r["frac_floor"] > 0 for r in packed) and any(r["frac_clipped"] > 0 for r in packed)


@pytest.mark.parametrize("optimizer,grid", [
    ("sgd_momentum", [dict(lr=0.03, seed=0), dict(lr=0.1, seed=1)]),
    ("adam", [dict(lr=1e-3, seed=0), dict(lr=3e-3, seed=1, weight_decay=0.01)]),
    ("adamw", [dict(lr=1e-3, seed=2)]),
    ("gclip", [dict(lr=1.0, gamma=0.5, seed=0), dict(lr=3.0, gamma=5.0, seed=3)]),
])
def test_minibatch_members_draw_their_own_batches_and_equal_their_unpacked_trials(optimizer, grid):
    members = configs("digits_mlp", grid, optimizer=optimizer, **SMALL_DIGITS)
    for config, record in zip(members, run_pack(members)):
        assert_same_record(record, run_trial(config))


def test_streamed_members_draw_their_own_stream():
    members = configs("lsq_student_t", [dict(seed=0), dict(seed=1)], optimizer="delta_gclip",
                      steps=200, log_every=50, eval_every=100)
    for config, record in zip(members, run_pack(members)):
        assert_same_record(record, run_trial(config))


def test_a_diverging_member_is_recorded_at_its_step_and_leaves_the_others_unchanged():
    grid = [dict(lr=0.1, seed=0), dict(lr=1e4, seed=0), dict(lr=0.3, seed=1)]
    members = configs("teacher_mlp", grid, optimizer="sgd", **SMALL_TEACHER)
    records = run_pack(members)
    assert [r["status"] for r in records] == ["completed", "diverged", "completed"]
    for config, record in zip(members, records):
        assert_same_record(record, run_trial(config))
    # each member records its share of the pack's training seconds: those of the steps it was alive for,
    # split among the members alive then; the pack's own in pack_train_time_s
    pack = records[0]["pack_train_time_s"]
    assert records[0]["pack_train_time_s"] == records[2]["pack_train_time_s"] > records[1]["pack_train_time_s"]
    assert sum(r["train_time_s"] for r in records) == pytest.approx(pack, rel=1e-9)
    assert records[0]["train_time_s"] == pytest.approx(records[2]["train_time_s"], rel=1e-12)
    assert records[1]["train_time_s"] < pack / 3 < records[0]["train_time_s"] < pack / 2


def test_what_cannot_be_packed_is_refused_with_the_reason():
    teacher = load_task("teacher_mlp")
    with pytest.raises(PackError, match="one workload"):
        run_pack([resolve_trial(teacher, {"optimizer": "sgd", "width": 32}),
                  resolve_trial(teacher, {"optimizer": "sgd", "width": 64})])
    with pytest.raises(PackError, match="one optimizer"):
        run_pack([resolve_trial(teacher, {"optimizer": "sgd"}), resolve_trial(teacher, {"optimizer": "adam"})])
    with pytest.raises(PackError, match="'clip_sgd' has no packed kernel .*; it runs unpacked"):
        run_pack([resolve_trial(teacher, {"optimizer": "clip_sgd", "gamma": 1.0, "lr": 0.1})])
    with pytest.raises(PackError, match="sharpness"):
        run_pack([resolve_trial(load_task("teacher_mlp_eos"), {"optimizer": "sgd"})])
    with pytest.raises(PackError, match="batch-norm"):
        run_pack([resolve_trial(load_task("cifar10_resnet18"), {"optimizer": "sgd"})])


class StopAtCheckpoint(Reporter):
    """Takes the pack's state at its first checkpoint, then stops the run as a kill would."""

    def checkpoint(self, step, state):
        self.state = state()
        raise KeyboardInterrupt


def test_a_pack_resumed_from_its_checkpoint_ends_exactly_as_if_never_stopped():
    grid = [dict(lr=lr, seed=seed) for lr in (0.03, 0.1) for seed in (0, 1)]
    members = configs("digits_mlp", grid, optimizer="adam", **{**SMALL_DIGITS, "eval_every": 20})
    whole = run_pack(members)
    stopper = StopAtCheckpoint()
    with pytest.raises(KeyboardInterrupt):
        run_pack(members, stopper)
    assert stopper.state["step"] == 20
    resumed = run_pack(members, resume=torch.load(_saved(stopper.state), weights_only=False))
    for a, b in zip(whole, resumed):
        assert [r["loss"] for r in a["steps"]] == [r["loss"] for r in b["steps"]]          # bit for bit
        assert [e["test_accuracy"] for e in a["evals"]] == [e["test_accuracy"] for e in b["evals"]]
        assert b["resumed_from_step"] == 20 and a["final_loss"] == b["final_loss"]


def _saved(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)   # as a Tune checkpoint holds it
    buffer.seek(0)
    return buffer


def test_a_packed_sweep_writes_each_member_as_the_trial_an_unpacked_sweep_writes(tmp_path):
    small = ["--grid", "width=16", "--grid", "depth=1", "--grid", "lr=0.1,1.0", "--optimizers", "sgd,adam",
             "--seeds", "2", "--set", "steps=20"]
    runs = {}
    for name, extra in (("unpacked", []), ("packed", ["--pack", "3"])):
        done = subprocess.run([sys.executable, "-m", "regclip_bench.cli", "sweep", "teacher_mlp", *small, *extra,
                               "--name", name, "--storage", str(tmp_path / "sweeps"), "--store", str(tmp_path / name)],
                              capture_output=True, text=True, timeout=600, cwd=ROOT)
        assert done.returncode == 0, done.stdout + done.stderr
        runs[name] = (done.stdout, load(str(tmp_path / name), "trials"))
        # the progress line counts configurations, packed or not
        last = [line for line in done.stderr.splitlines() if re.match(r"\[ *\d+s\] done", line)][-1]
        best = runs[name][1].final_loss.min()
        assert re.search(rf"done 8/8  running 0  failed 0  diverged 0  best loss {best:.4g}  eta 0s$", last), last
    out, packed = runs["packed"]
    assert "ran 8 trials: " in out and "0 errored" in out
    unpacked = runs["unpacked"][1]
    assert sorted(packed.trial_id) == sorted(unpacked.trial_id) and len(packed) == 8
    # per optimizer, 4 trials: a pack of 3 and one trial alone (a pack of one runs as a plain trial)
    assert packed.pack.notna().sum() == 6 and packed.pack.nunique() == 2 and unpacked.pack.isna().all()
    merged = packed.merge(unpacked, on="trial_id", suffixes=("_p", "_u"))
    for column in ("final_loss", "best_loss", "max_dist_from_init", "final_test_loss"):
        assert np.allclose(merged[f"{column}_p"], merged[f"{column}_u"], rtol=1e-4), column
    assert (merged.status_p == merged.status_u).all()


def test_the_one_schedule_takes_torchs_multisteplr_floats_and_a_pack_takes_the_trials():
    """One learning-rate schedule for both loops (`TrialConfig.lr_at`): bit for bit torch's MultiStepLR
    (η multiplied by the decay in turn at each milestone), so that a packed member and the same trial
    alone take the same η at every step."""
    import torch
    task = load_task("teacher_mlp")
    config = resolve_trial(task, {"optimizer": "sgd", "lr": 0.3, "width": 8, "depth": 1, "steps": 12,
                                  "budget.lr_milestones": [3, 5, 9], "budget.lr_decay": 0.3})
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    torch_lrs = []
    scheduler = torch.optim.lr_scheduler.MultiStepLR(opt, [3, 5, 9], 0.3)
    for _ in range(12):
        torch_lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    assert [config.lr_at(0.3, step, 1) for step in range(1, 13)] == torch_lrs     # ==, not approx
    configs = [resolve_trial(task, {"optimizer": "sgd", "lr": lr, "width": 8, "depth": 1, "steps": 12, "log_every": 1,
                                    "budget.lr_milestones": [3, 5, 9], "budget.lr_decay": 0.3}) for lr in (0.3, 0.1)]
    for record, alone in zip(run_pack(configs), (run_trial(c) for c in configs)):
        assert [r["lr"] for r in record["steps"]] == [r["lr"] for r in alone["steps"]]


def test_a_gpu_sweep_packs_small_models_by_their_size_and_asks_each_pack_for_a_share_of_a_gpu():
    """On GPUs a sweep without --pack packs as many members as fit 4 M parameters of the largest model
    (a power of two up to 64); a text task (vocabulary unknown before reading) and batch-norm models are
    not packed. The request — a quarter GPU per Tune trial, whatever its members — fits a 1-GPU node
    and is refused on a node without one (checked on CPU: no GPU is needed to plan)."""
    from regclip_bench.packing import gpu_pack, parameters
    from regclip_bench.sweep.runner import SweepOptions, _check_resources
    from regclip_bench.errors import ConfigError
    vae = load_task("fashion_mnist_vae")
    assert parameters(vae) == 91_984 and gpu_pack([vae]) == (32, 91_984)
    wide = resolve_trial(load_task("teacher_mlp"), {"width": 1024, "depth": 2}).task
    assert gpu_pack([wide, vae]) == (2 ** int(math.log2(4_000_000 / parameters(wide))), parameters(wide))
    assert gpu_pack([load_task("char_transformer")]) == (1, None)
    assert gpu_pack([load_task("cifar10_resnet18")]) == (1, None)
    run = lambda *a: subprocess.run([sys.executable, "-m", "regclip_bench.cli", "sweep", "fashion_mnist_vae", *a,
                                     "--dry-run"], capture_output=True, text=True, timeout=120)
    assert "packs of up to 32 configurations (the largest model has 91,984 parameters" in run(
        "--gpus-per-trial", "0.25").stdout
    assert "packs of up to" not in run("--gpus-per-trial", "0.25", "--pack", "1").stdout
    assert "packs of up to" not in run().stdout
    options = SweepOptions(name="s", storage="/tmp", gpus_per_trial=0.25, pack=32)
    _check_resources(options, [{"CPU": 16.0, "GPU": 1.0}])
    with pytest.raises(ConfigError, match="--gpus-per-trial 0.25: no node of this machine"):
        _check_resources(options, [{"CPU": 2.0}])
