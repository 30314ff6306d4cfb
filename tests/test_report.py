"""Reports from a store built from real (small) trials."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from regclip_bench.report import Selection, best_configs
from regclip_bench.results import aggregate, load
from test_results import make_sweep

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    runs = [dict(optimizer=opt, width=w, depth=1, lr=lr, seed=seed, steps=30, log_every=10, eval_every=30, **extra)
            for opt, extra in (("delta_gclip", dict(gamma=0.3, delta=0.1)), ("delta_gclip", dict(gamma=0.1, delta=0.1)),
                               ("sgd", {}))
            for w in (8, 16) for lr in (0.3, 0.5) for seed in (0, 1)]
    runs += [dict(optimizer="sgd", width=8, depth=1, lr=1e4, seed=s, steps=30, log_every=5) for s in (0, 1)]
    make_sweep(root / "sweeps" / "teacher_mlp", "teacher_mlp-r", runs)
    aggregate(str(root / "sweeps" / "teacher_mlp"), str(root / "store"))
    return root / "store"


def test_best_configuration_is_the_best_mean_over_seeds(store):
    trials = load(str(store), "trials")
    best = best_configs(trials, Selection("final_loss", "min")).set_index("optimizer")
    for optimizer, group in trials.groupby("optimizer"):
        keys = ["width", "lr", "gamma"] if optimizer == "delta_gclip" else ["width", "lr"]
        means = group.groupby(keys)["final_loss"].mean()
        means = means.where(group.groupby(keys)["status"].apply(lambda s: (s == "completed").all()),
                            float("inf"))
        assert best.loc[optimizer, "score"] == pytest.approx(means.min())
    assert Selection.for_task("digits_mlp") == Selection("final_test_accuracy", "max")


def test_report_command_writes_html_markdown_and_figures(store, tmp_path):
    done = subprocess.run([sys.executable, "-m", "regclip_bench.cli", "report", str(store), "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "teacher_mlp"
    meta = json.loads((folder / "report.json").read_text())
    assert {"loss", "regimes", "pl_ratio", "heatmap_lr_gamma", "phase_final_loss", "distance_vs_width"} <= set(meta["figures"])
    page = (folder / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(meta["figures"])   # self-contained
    assert "<table" in page and "delta_gclip" in page and "sgd" in page
    markdown = (folder / "report.md").read_text()
    assert all(f"({name}.png)" in markdown for name in meta["figures"])
    assert all((folder / f"{name}.png").stat().st_size > 5000 for name in meta["figures"])
