"""Plug-in optimizers: any torch.optim.Optimizer — a class, a factory, an installed entry point, a
submission folder — tuned and run by the suite, with diagnostics measured outside it; what a plug-in
does wrong is a result (failed, diverged, timed_out), never a crashed trial loop."""

import json
import math
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from regclip_bench.config import resolve_trial
from regclip_bench.errors import ConfigError
from regclip_bench.optim import registry
from regclip_bench.optim.plugins import PluginError, from_reference
from regclip_bench.report import leaderboard
from regclip_bench.results import aggregate, load
from regclip_bench.spec import load_task
from regclip_bench.submit import load_submission
from regclip_bench.trial import run_trial
from plugin_sources import TINY
from stores import make_sweep

ROOT = Path(__file__).resolve().parent.parent
TEACHER = load_task("teacher_mlp")
SMALL = {"width": 16, "depth": 1, "steps": 30, "log_every": 10, "eval_every": 10}



@pytest.fixture
def plugmod(tmp_path, monkeypatch):
    (tmp_path / "plugmod.py").write_text(TINY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_PLUGINS", {})
    return "plugmod"


def test_a_class_by_reference_is_tuned_and_run_like_a_built_in(plugmod):
    entry = registry.lookup("sign=plugmod:SignSGD")
    assert (entry.name, entry.accepts, entry.defaults) == ("sign", ("lr", "weight_decay"), {"lr": 0.01, "weight_decay": 0.0})
    assert entry.origin == "plugmod:SignSGD" and len(entry.source_sha256) == 64   # foreach: torch's, not a hyperparameter
    config = resolve_trial(TEACHER, {"optimizer": "sign", "lr": 0.003, **SMALL})
    assert config.hparams == {"lr": 0.003, "weight_decay": 0.0}
    result = run_trial(config)
    assert result["status"] == "completed" and result["optimizer_origin"] == "plugmod:SignSGD"
    row = result["steps"][-1]
    # measured outside the optimizer: every step of sign-SGD moves w by lr·sqrt(#parameters)
    assert row["update_norm"] == pytest.approx(0.003 * math.sqrt(result["param_count"]), rel=1e-5)
    assert row["effective_step"] == pytest.approx(row["update_norm"] / row["grad_norm"])
    assert row["dist_from_init"] > 0 and row.get("clip_factor") is None


def test_a_default_name_is_the_class_in_snake_case_and_never_a_built_ins(plugmod):
    assert registry.lookup("plugmod:SignSGD").name == "sign_s_g_d"
    with pytest.raises(ConfigError, match="cannot take a built-in optimizer's name"):
        registry.lookup("sgd=plugmod:SignSGD")


def test_a_factory_with_a_tuple_argument_takes_scalar_hyperparameters(plugmod):
    entry = registry.lookup("fadam=plugmod:adam_factory")
    assert entry.accepts == ("lr", "beta1", "beta2") and entry.required == ("lr",)
    config = resolve_trial(TEACHER, {"optimizer": "fadam", "lr": 1e-3, "beta1": 0.5, **SMALL})
    assert config.make_optimizer([torch.nn.Parameter(torch.zeros(2))]).param_groups[0]["betas"] == (0.5, 0.999)
    with pytest.raises(ConfigError, match="invalid beta1=1.5"):
        resolve_trial(TEACHER, {"optimizer": "fadam", "lr": 1e-3, "beta1": 1.5})
    with pytest.raises(ConfigError, match=r"optimizer 'fadam' needs lr.*--set lr=VALUE"):
        resolve_trial(TEACHER, {"optimizer": "fadam"})


def test_what_is_not_an_optimizer_is_refused_in_one_line(plugmod):
    with pytest.raises(PluginError, match="returned a int, not a torch.optim.Optimizer"):
        from_reference("plugmod:not_an_optimizer")
    with pytest.raises(PluginError, match="cannot import no_such_package"):
        from_reference("no_such_package:Opt")
    with pytest.raises(PluginError, match="plugmod has no Missing"):
        from_reference("plugmod:Missing")
    with pytest.raises(PluginError, match="step\\(\\) requires a closure"):
        from_reference("plugmod:NeedsClosure")


def test_the_mode_switch_wraps_every_evaluation(plugmod):
    entry = registry.lookup("modes=plugmod:Modes")
    assert entry.mode_switch
    config = resolve_trial(TEACHER, {"optimizer": "modes", "lr": 0.1, **SMALL})
    seen = []
    original = entry.build

    def build(params, **h):
        opt = original(params, **h)
        seen.append(opt)
        return opt
    object.__setattr__(entry, "build", build)
    result = run_trial(config)
    assert result["status"] == "completed"
    evaluations = len(result["evals"]) + 1          # at w₀, every eval_every steps, and the final probe
    assert seen[0].calls == ["eval", "train"] * evaluations


@pytest.mark.parametrize("name, status, error", [
    ("Raises", "failed", "optimizer raises raised ValueError: my optimizer broke"),
    ("MakesNaN", "diverged", None),
])
def test_a_plug_in_that_raises_or_returns_nan_is_a_result(plugmod, name, status, error):
    registry.lookup(f"{name.lower()}=plugmod:{name}")
    result = run_trial(resolve_trial(TEACHER, {"optimizer": name.lower(), "lr": 0.1, **SMALL}))
    assert result["status"] == status and result["error"] == error
    if status == "failed":
        assert result["steps_done"] == 12 and len(result["steps"]) == 2     # the rows it logged stay


def test_a_step_that_never_finishes_times_out(plugmod):
    registry.lookup("never=plugmod:NeverFinishes")
    start = time.monotonic()
    result = run_trial(resolve_trial(TEACHER, {"optimizer": "never", "lr": 0.1, **SMALL}), time_limit_s=1.0)
    assert time.monotonic() - start < 10
    assert result["status"] == "timed_out" and result["steps_done"] == 1
    assert result["error"] == "timed out: past the trial's time limit of 1 s"


def test_a_plug_in_whose_first_step_never_finishes_is_refused_when_named(plugmod, monkeypatch):
    import regclip_bench.optim.plugins as plugins
    monkeypatch.setattr(plugins, "PROBE_SECONDS", 0.5)
    with pytest.raises(PluginError, match="one step on a 2-element tensor did not finish within 0.5 s"):
        registry.lookup("hangs=plugmod:Hangs")


def test_a_bug_in_the_suites_own_code_is_still_raised(plugmod, monkeypatch):
    registry.lookup("sign=plugmod:SignSGD")
    import regclip_bench.trial as trial
    monkeypatch.setattr(trial, "logged_row", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        run_trial(resolve_trial(TEACHER, {"optimizer": "sign", **SMALL}))


def test_an_entry_point_of_an_installed_package_is_trained_and_shown_on_a_leaderboard(tmp_path, monkeypatch):
    """The how-to's last step: a package that declares `regclip_bench.optimizers` is found by name."""
    site = tmp_path / "site"
    (site / "tinyopt").mkdir(parents=True)
    (site / "tinyopt" / "__init__.py").write_text(TINY)
    info = site / "tinyopt-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyopt\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[regclip_bench.optimizers]\ntiny_sign = tinyopt:SignSGD\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry, "_PLUGINS", {})
    assert "tiny_sign" in registry.names()
    make_sweep(tmp_path / "sweeps" / "teacher_mlp", "tiny-1",
               [dict(optimizer="tiny_sign", lr=lr, seed=s, **SMALL) for lr in (1e-3, 3e-3) for s in (0, 1)])
    aggregate(str(tmp_path / "sweeps" / "teacher_mlp"), str(tmp_path / "store"))
    trials = load(str(tmp_path / "store"), "trials")
    assert set(trials["optimizer_origin"]) == {"entry point tinyopt:SignSGD"}
    assert set(trials["optimizer_packages"]) == {json.dumps({"tinyopt": "0.1"})}
    board = leaderboard.compute(str(tmp_path / "store"))
    entry = next(e for e in board["entries"] if e.get("optimizer") == "tiny_sign")
    assert entry["run_by"] == "suite" and entry["budget"]["configurations"] == 2
    assert entry["provenance"]["optimizer_origin"] == ["entry point tinyopt:SignSGD"]
    leaderboard.write(board, tmp_path / "site-out")
    page = (tmp_path / "site-out" / "index.html").read_text()
    assert 'SignSGD <span class="tag">plug-in, run by the suite</span>' in page      # its class name, marked


def test_changed_plug_in_code_is_a_new_configuration(tmp_path, monkeypatch):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "optimizer.py").write_text(TINY)
    (folder / "submission.yaml").write_text("name: mine\ndisplay_name: Mine\noptimizer: optimizer.py:SignSGD\n"
                                            "tuning: {lr: {log: [1.0e-4, 0.1]}}\n")
    monkeypatch.setattr(registry, "_PLUGINS", {})
    first = load_submission(folder)
    registry.register(first.entry)
    key = resolve_trial(TEACHER, {"optimizer": "mine"})
    (folder / "optimizer.py").write_text(TINY + "\n# changed\n")
    monkeypatch.setattr(registry, "_PLUGINS", {})
    registry.register(load_submission(folder).entry)
    from regclip_bench.identity import trial_key
    assert trial_key(resolve_trial(TEACHER, {"optimizer": "mine"})) != trial_key(key)


def test_a_submission_runs_through_submit_on_ray_and_lands_in_the_store(tmp_path):
    """From a folder (its code shipped to the worker with its hash checked there) to trials and a page."""
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "optimizer.py").write_text(TINY)
    (folder / "submission.yaml").write_text(textwrap.dedent("""\
        name: sign_sgd
        display_name: sign-SGD
        optimizer: optimizer.py:SignSGD
        tuning: {lr: {log: [1.0e-4, 1.0e-2]}}
        """))
    done = subprocess.run([sys.executable, "-m", "regclip_bench.cli", "submit", str(folder), "--tasks", "digits_mlp",
                           "--budget", "2", "--seeds", "2", "--storage", str(tmp_path / "sweeps"),
                           "--store", str(tmp_path / "store"), "--out", str(tmp_path / "site")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "a plug-in optimizer runs unpacked" in done.stdout
    trials = load(str(tmp_path / "store"), "trials")
    assert len(trials) == 4 + 10 and set(trials["status"]) == {"completed"} and set(trials["result_source"]) == {"suite"}
    assert trials["optimizer_origin"].iloc[0] == "submission sign_sgd"
    board = json.loads((tmp_path / "site" / "leaderboard.json").read_text())
    entry = next(e for e in board["entries"] if e.get("optimizer") == "sign_sgd")
    assert entry["budget"]["configurations"] == 2 and entry["seeds"]["tune"] == [0, 1]
    assert entry["seeds"]["report"] == list(range(10_000, 10_010)) and entry["ranked_by"] == "held-out seeds"
    # reading the store never runs (nor needs) the submission's code: its folder gone, the pages are made
    import shutil
    shutil.rmtree(folder)
    script = ("import sys; from regclip_bench.report import build_report, leaderboard; "
              "leaderboard.write(leaderboard.compute(sys.argv[1]), sys.argv[2]); build_report(sys.argv[1], sys.argv[2]); "
              "assert not [m for m in sys.modules if 'submission' in m and m.startswith('regclip_bench_')], sys.modules")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "store"), str(tmp_path / "again")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "again" / "digits_mlp" / "report.html").exists()


def test_submit_set_runs_the_headline_workloads_with_a_field_changed(tmp_path):
    """`submit --set epochs=10` plans the VAE's published 10-epoch workload, names its sweep after it, and
    refuses to pin a hyperparameter (those come from the submission's own ranges)."""
    from regclip_bench.submit import plan
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "optimizer.py").write_text(TINY)
    (folder / "submission.yaml").write_text("name: sign_sgd\ndisplay_name: sign-SGD\noptimizer: optimizer.py:SignSGD\n"
                                            "tuning: {lr: {log: [1.0e-4, 1.0e-2]}}\n")
    submission = load_submission(folder)
    trials, described = plan(submission, "fashion_mnist_vae", 2, 2, 0, {"epochs": 10})
    assert len(trials) == 2 * 2 and described["headline_workloads"] == 1
    assert {t.config.task.budget.epochs for t in trials} == {10} != {load_task("fashion_mnist_vae").budget.epochs}
    with pytest.raises(ConfigError, match="--set lr: a submission's hyperparameters"):
        plan(submission, "fashion_mnist_vae", 2, 2, 0, {"lr": 0.1})
    done = subprocess.run([sys.executable, "-m", "regclip_bench.cli", "submit", str(folder), "--tasks",
                           "fashion_mnist_vae", "--set", "epochs=10", "--budget", "2", "--seeds", "2", "--dry-run"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "fashion_mnist_vae[epochs=10]" in done.stdout and " 4 trials" in done.stdout


def test_the_published_pages_are_built_without_importing_a_plug_in():
    """results/store holds Lion's and Schedule-Free AdamW's trials; building its leaderboard imports neither."""
    script = ("import sys; from regclip_bench.report import leaderboard; b = leaderboard.compute(sys.argv[1]); "
              "assert {'lion', 'schedulefree_adamw'} <= {e.get('optimizer') for e in b['entries']}; "
              "assert not {'lion_pytorch', 'schedulefree'} & set(sys.modules), 'imported'")
    done = subprocess.run([sys.executable, "-c", script, str(ROOT / "results" / "store")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr


# --- the two real third-party optimizers (the `plugins` extra) --------------------------------

def test_lion_from_pypi_takes_the_sign_of_its_interpolated_momentum():
    pytest.importorskip("lion_pytorch")
    entry = load_submission(ROOT / "examples" / "submissions" / "lion").entry
    assert entry.packages == {"lion-pytorch": "0.2.5"} and entry.state_copies == 1 and not entry.mode_switch
    w = torch.nn.Parameter(torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64))
    opt = entry.build([w], **entry.resolve({"lr": 0.1}))
    m = torch.zeros(3, dtype=torch.float64)
    expected = w.detach().clone()
    for g in ([1.0, -2.0, 0.5], [-3.0, 1.0, 0.25], [0.5, 0.5, -1.0]):
        g = torch.tensor(g, dtype=torch.float64)
        w.grad = g
        opt.step()
        expected -= 0.1 * torch.sign(0.9 * m + 0.1 * g)       # β1 = 0.9
        m = 0.99 * m + 0.01 * g                              # β2 = 0.99
        assert torch.equal(w.detach(), expected)


def test_schedule_free_adamw_from_pypi_trains_and_evaluates_on_its_averaged_weights():
    pytest.importorskip("schedulefree")
    submission = load_submission(ROOT / "examples" / "submissions" / "schedulefree_adamw")
    entry = submission.entry
    assert entry.mode_switch and entry.packages == {"schedulefree": "1.4.1"} and entry.state_copies == 2
    registry.register(entry)
    result = run_trial(resolve_trial(TEACHER, {"optimizer": "schedulefree_adamw", "lr": 0.01, **SMALL}))
    assert result["status"] == "completed" and [e["step"] for e in result["evals"]] == [0, 10, 20, 30]
    assert result["final_loss"] < result["initial_loss"]
    # the closure variant needs a closure in step(): refused, with the reason
    with pytest.raises(PluginError, match="requires a closure"):
        from_reference("schedulefree:AdamWScheduleFreeClosure")
