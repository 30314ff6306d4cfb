"""A trial's step replayed from a CUDA graph (issue 31 item 6): the same numbers as the step run as it
is, single and packed.  On CPU the same code runs every step as it is (`graphs.CapturedStep`): these
tests check what the loop does around the graph — the batch handed in, the measurements taken on every
step, when a graph would be made and dropped.  The CUDA tests check the graphs themselves."""

import math
import subprocess
import sys

import pytest
import torch

from dataset_files import write_fashion_mnist
from regclip_bench.config import resolve_trial
from regclip_bench.graphs import WARMUP, CapturedStep
from regclip_bench.packed import run_pack
from regclip_bench.spec import load_task
from regclip_bench.trial import run_trial

TIMED = {"examples_per_s", "wall_time_s", "train_time_s", "seconds_to_target", "pack_train_time_s"}
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def same(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def assert_same_numbers(captured, plain, rel=0.0):
    """Every logged row, evaluation and summary number equal (to `rel`), but for the seconds."""
    def close(a, b):
        if rel and isinstance(a, float) and isinstance(b, float) and math.isfinite(b):
            return a == pytest.approx(b, rel=rel, abs=1e-12)
        return same(a, b)
    for key in set(plain) - TIMED - {"steps", "evals", "step_graph"}:
        assert close(captured[key], plain[key]), key
    for rows in ("steps", "evals"):
        assert len(captured[rows]) == len(plain[rows])
        for mine, theirs in zip(captured[rows], plain[rows]):
            assert mine.keys() == theirs.keys()
            for key in set(theirs) - TIMED:
                assert close(mine[key], theirs[key]), (rows, mine["step"], key)


def digits(optimizer, device="cpu", **hparams):
    """Two epochs of 15 steps, the last batch of each short (1,437 images in batches of 100), η decayed
    after the first epoch."""
    return resolve_trial(load_task("digits_mlp"), dict(
        width=32, depth=1, epochs=2, batch_size=100, log_every=4, eval_every=15, optimizer=optimizer, device=device,
        **{"budget.lr_milestones": [1], "budget.lr_decay": 0.5}, **hparams))


@pytest.mark.parametrize("optimizer, hparams", [
    ("delta_gclip", dict(lr=0.5, gamma=1.0, delta=0.1)), ("clip_sgd", dict(lr=0.5, gamma=1.0, momentum=0.9)),
    ("sgd_momentum", dict(lr=0.05)), ("adam", dict(lr=1e-3))])
def test_a_captured_trial_records_the_numbers_of_the_trial_run_as_it_is(optimizer, hparams):
    config = digits(optimizer, **hparams)
    plain, captured = run_trial(config), run_trial(config, capture=True)
    assert plain["steps_done"] == 30 and plain["steps"][-1]["lr"] == hparams["lr"] * 0.5
    assert captured["step_graph"] is None      # no graph off CUDA: recorded as run as it is
    assert_same_numbers(captured, plain)


def test_captured_packs_record_the_numbers_of_packs_run_as_they_are():
    grid = [dict(lr=lr, seed=seed) for lr in (0.1, 1.0) for seed in (0, 1)]
    for task, common in (("teacher_mlp", dict(width=32, depth=2, steps=40, log_every=5, eval_every=20)),
                         ("digits_mlp", dict(width=16, depth=1, epochs=2, batch_size=100, log_every=4,
                                             eval_every=15, **{"budget.lr_milestones": [1]}))):
        members = [resolve_trial(load_task(task), {**common, **point, "optimizer": "delta_gclip", "device": "cpu",
                                                   "gamma": 0.5, "delta": 0.1}) for point in grid]
        for captured, plain in zip(run_pack(members, capture=True), run_pack(members)):
            assert_same_numbers(captured, plain)


def test_seconds_are_compared_only_among_trials_all_replayed_from_graphs_or_none():
    import pandas as pd
    from regclip_bench.report.protocol import time_measure

    def trials(graphs):
        return pd.DataFrame({"device": "cuda:0", "device_name": "NVIDIA H200", "gpu_model": "NVIDIA H200",
                             "cpu_model": "AMD EPYC", "step_graph": graphs})
    assert time_measure(trials(["cuda", "cuda"])) == ("seconds_to_target", "NVIDIA H200")
    assert time_measure(trials([None, None])) == ("seconds_to_target", "NVIDIA H200")
    assert time_measure(trials(["cuda", None])) == ("steps_to_target", "NVIDIA H200")   # same steps, other seconds


def test_a_graph_is_made_once_a_step_repeats_and_dropped_when_the_batch_or_eta_changes():
    calls = []
    step = CapturedStep(lambda x: calls.append(x.shape[0]) or x.sum(), torch.device("cpu"))
    full, short = torch.ones(4), torch.ones(3)
    plan = [(0.1, full)] * (WARMUP + 3) + [(0.1, short), (0.1, full), (0.1, full), (0.1, full),
                                           (0.05, full), (0.05, full)]
    made = []
    for eta, batch in plan:
        assert step(eta, batch) == batch.sum()
        made.append(step.captures)
    assert calls == [len(b) for _, b in plan]                       # every step ran, each with its batch
    # warm-up, then a capture at the first repeat; the short batch and the step after it run as they are,
    # the next repeat captures again; a new η likewise
    assert made == [0] * WARMUP + [1, 1, 1] + [1, 1, 2, 2] + [2, 3]
    assert step.eager_steps == WARMUP + 3


def test_a_sweep_says_which_optimizers_it_cannot_capture():
    out = subprocess.run([sys.executable, "-m", "regclip_bench.cli", "sweep", "digits_mlp", "--gpus-per-trial", "0.5",
                          "--cuda-graph", "--dry-run"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert ("  CUDA graphs: each training step replayed from one, except adam's (a host-side step count): "
            "run as they are") in out.stdout.splitlines()


@CUDA
@pytest.mark.parametrize("optimizer, hparams", [
    ("delta_gclip", dict(lr=0.5, gamma=1.0, delta=0.1)), ("sgd_momentum", dict(lr=0.05))])
def test_on_cuda_a_trial_replayed_from_graphs_equals_the_trial_run_as_it_is(optimizer, hparams):
    config = digits(optimizer, device="cuda", **hparams)
    plain = run_trial(config)
    before = CapturedStep.made
    captured = run_trial(config, capture=True)
    assert CapturedStep.made - before == 2      # one per epoch: its full batches at its η
    assert captured["step_graph"] == "cuda" and plain["step_graph"] is None
    assert_same_numbers(captured, plain, rel=1e-6)


@CUDA
def test_on_cuda_the_vaes_noise_is_drawn_the_same_in_a_graph(tmp_path):
    write_fashion_mnist(tmp_path, n_train=80, n_test=20)
    config = resolve_trial(load_task("fashion_mnist_vae"), dict(
        steps=24, log_every=3, eval_every=12, batch_size=16, device="cuda", optimizer="delta_gclip",
        **{"data.root": str(tmp_path), "data.verify_checksums": False}))
    plain = run_trial(config)
    before = CapturedStep.made
    captured = run_trial(config, capture=True)
    assert CapturedStep.made > before
    assert_same_numbers(captured, plain, rel=1e-6)


@CUDA
def test_on_cuda_a_pack_replayed_from_graphs_equals_the_pack_run_as_it_is():
    grid = [dict(lr=lr, seed=seed) for lr in (0.1, 1.0) for seed in (0, 1)]
    members = [resolve_trial(load_task("teacher_mlp"), dict(width=64, depth=2, steps=40, log_every=5, eval_every=20,
                                                            optimizer="delta_gclip", gamma=0.5, delta=0.1,
                                                            device="cuda", **point)) for point in grid]
    plain = run_pack(members)
    before = CapturedStep.made
    captured = run_pack(members, capture=True)
    assert CapturedStep.made - before == 1
    for a, b in zip(captured, plain):
        assert a["step_graph"] == "cuda" and b["step_graph"] is None
        assert_same_numbers(a, b, rel=1e-6)


@CUDA
def test_on_cuda_a_step_that_syncs_fails_its_capture_with_its_own_error():
    step = CapturedStep(lambda x: x.sum().item(), torch.device("cuda"))
    x = torch.ones(4, device="cuda")
    for _ in range(WARMUP):   # warm-up: run as it is
        assert step(None, x) == 4.0
    with pytest.raises(RuntimeError, match="captur"):   # the first repeat is captured, and .item() syncs
        step(None, x)
    assert not step.live and step.graph is None
