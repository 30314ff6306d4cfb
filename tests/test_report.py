"""Reports from a store built from real (small) trials."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from regclip_bench.report import protocol
from regclip_bench.results import aggregate, load
from stores import make_sweep

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


def test_report_table_shows_each_workloads_best_configuration(store):
    from regclip_bench.report.report import summary_table
    trials = protocol.distinct_trials(load(str(store), "trials"))
    found = protocol.ordered(protocol.studies(trials), "teacher_mlp")
    table = summary_table(found)
    # 2 widths × 2 optimizers, and SGD at η = 1e4 logged every 5 steps: a workload of its own
    assert len(found) == 3 and len(table) == sum(len(s.entries) for s in found) == 5
    for study in found:
        for entry in study.entries:
            mine = trials[(trials.workload_key == study.workload_key) & (trials.optimizer == entry.optimizer)]
            assert entry.budget["configurations"] == mine.config_key.nunique()
            assert set(entry.trials.config_key) == {entry.best["config_key"]} and len(entry.trials) == 2


def test_markdown_cells_cannot_inject_html_or_rows():
    from regclip_bench.report.report import escape_markdown, markdown_table
    import pandas as pd
    evil = "<script>alert(1)</script> | x\n| injected |"
    assert escape_markdown(evil) == "&lt;script&gt;alert(1)&lt;/script&gt; &#124; x &#124; injected &#124;"
    table = markdown_table(pd.DataFrame([{"optimizer": evil}]))
    assert len(table.splitlines()) == 3 and "<script>" not in table


def test_report_command_writes_html_markdown_and_figures(store, tmp_path):
    done = subprocess.run([sys.executable, "-m", "regclip_bench.cli", "report", str(store), "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "teacher_mlp"
    meta = json.loads((folder / "report.json").read_text())
    assert {"loss-w0", "regimes-w0", "pl_ratio-w0", "tunability-w0", "tunability-w1", "heatmap_lr_gamma",
            "phase_metric", "relative_distance_vs_width"} <= set(meta["figures"])
    assert [w["headline"] for w in meta["workloads"]] == [False] * 3   # none of the file's headline workloads
    page = (folder / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(meta["figures"])   # self-contained
    assert "<table" in page and "delta_gclip" in page and "sgd" in page
    markdown = (folder / "report.md").read_text()
    assert all(f"({name}.png)" in markdown for name in meta["figures"])
    assert all((folder / f"{name}.png").stat().st_size > 5000 for name in meta["figures"])


def test_the_lr_gamma_heatmap_has_a_panel_only_where_both_were_varied():
    """Each optimizer at one γ of its own (char_transformer's grids) is no lr × γ grid: the page drew
    panels of one row, all labelled alike."""
    import pandas as pd
    from regclip_bench.report.figures import heatmaps
    rows = [dict(workload="w", optimizer=opt, delta=delta, lr=lr, gamma=gamma, final_test_loss=2.0 + lr)
            for opt, delta, gamma in (("gclip", None, 0.3), ("delta_gclip_per_tensor", 0.01, 0.1)) for lr in (0.3, 1.0)]
    assert heatmaps(pd.DataFrame(rows), "final_test_loss", "final test loss") is None
    rows += [dict(workload="w", optimizer="gclip", delta=None, lr=lr, gamma=1.0, final_test_loss=2.5) for lr in (0.3, 1.0)]
    fig = heatmaps(pd.DataFrame(rows), "final_test_loss", "final test loss")
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["w gclip, δ = 0"]


def test_the_band_is_seaborns_seeded_bootstrap_interval_drawn_at_once():
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    import seaborn as sns
    from regclip_bench.report.figures import _band
    rng = np.random.default_rng(0)
    steps = np.repeat(np.arange(40), rng.integers(2, 9, 40))   # 2 to 8 seeds at a step
    data = pd.DataFrame({"step": steps, "y": rng.lognormal(size=len(steps))})
    data.loc[3, "y"] = np.nan
    bands = []
    for errorbar in (("ci", 95), _band):
        fig, ax = plt.subplots()
        sns.lineplot(data=data, x="step", y="y", errorbar=errorbar, seed=0, ax=ax)
        bands.append(ax.collections[0].get_paths()[0].vertices)
        plt.close(fig)
    assert len(bands[0]) > 80 and np.array_equal(*bands)   # the band's outline: 40 steps up, 40 back


def test_a_report_redrawn_from_the_same_store_is_the_same_bytes(tmp_path):
    """The figures' 95% bands are bootstrapped (from 5 seeds: with 2 the band is their range whatever the
    draws) with a fixed seed: publishing again changes no file (seaborn's own bootstrap was unseeded)."""
    from regclip_bench.report.report import build_report
    runs = [dict(optimizer=opt, width=8, depth=1, lr=0.3, seed=seed, steps=30, log_every=5, eval_every=30, **extra)
            for opt, extra in (("delta_gclip", dict(gamma=0.3, delta=0.1)), ("sgd", {})) for seed in range(5)]
    make_sweep(tmp_path / "sweeps" / "teacher_mlp", "teacher_mlp-r", runs)
    aggregate(str(tmp_path / "sweeps" / "teacher_mlp"), str(tmp_path / "store"))
    first, again = (build_report(str(tmp_path / "store"), tmp_path / name)[0].parent for name in ("a", "b"))
    files = sorted(p.name for p in first.iterdir())
    assert {"loss-w0.png", "regimes-w0.png", "report.html"} <= set(files)
    assert files == sorted(p.name for p in again.iterdir())
    assert all((first / name).read_bytes() == (again / name).read_bytes() for name in files)


def test_a_report_shows_clipped_and_floor_steps_and_the_sharpness_against_its_limits(tmp_path):
    from regclip_bench.report.report import build_report
    lsq = [dict(optimizer="delta_gclip", lr=1.0, gamma=0.3, delta=0.1, seed=s, steps=200, log_every=20, eval_every=100)
           for s in (0, 1)] + [dict(optimizer="sgd", lr=0.1, seed=s, steps=200, log_every=20, eval_every=100) for s in (0, 1)]
    make_sweep(tmp_path / "sweeps" / "lsq_student_t", "lsq-1", lsq, task="lsq_student_t")
    eos = [dict(optimizer=o, lr=lr, seed=0, steps=100, log_every=10, eval_every=100, **extra)
           for o, extra in (("sgd", {}), ("delta_gclip", dict(gamma=0.03, delta=0.01))) for lr in (0.1, 0.3, 1.0)]
    make_sweep(tmp_path / "sweeps" / "teacher_mlp_eos", "eos-1", eos, task="teacher_mlp_eos")
    for name in ("lsq_student_t", "teacher_mlp_eos"):
        aggregate(str(tmp_path / "sweeps" / name), str(tmp_path / "store"))
    build_report(str(tmp_path / "store"), tmp_path / "out")

    markdown = (tmp_path / "out" / "lsq_student_t" / "report.md").read_text()
    trials = load(str(tmp_path / "store"), "trials", {"task": "lsq_student_t", "optimizer": "delta_gclip"})
    clipped, floor = trials.frac_clipped.mean(), trials.frac_floor.mean()
    assert clipped > 0.1 and floor > 0.01                          # heavy tails: both regimes engage
    assert f"| {clipped:.1%} / {floor:.1%} |" in markdown and "| — |" in markdown   # SGD has none
    meta = json.loads((tmp_path / "out" / "teacher_mlp_eos" / "report.json").read_text())
    assert "sharpness-w0" in meta["figures"] and "regimes-w0" in meta["figures"]
    steps = load(str(tmp_path / "store"), "steps", {"task": "teacher_mlp_eos"})
    measured = steps.dropna(subset=["sharpness"])
    finished = load(str(tmp_path / "store"), "trials", {"task": "teacher_mlp_eos"}).query("status != 'diverged'")
    assert set(measured.step) == {1, 100} and (measured.step == 1).sum() == 6       # every 10th logged row
    assert set(measured[measured.step == 100].trial_id) == set(finished.trial_id)
    assert (measured.sharpness_limit * measured.lr).round(12).eq(2).all()
    delta = load(str(tmp_path / "store"), "trials", {"task": "teacher_mlp_eos", "optimizer": "delta_gclip"})
    assert measured.sharpness_floor_limit.notna().equals(measured.trial_id.isin(delta.trial_id))   # 2/(ηδ)
