"""The benchmark protocol: identities, equal-budget comparison, LR sensitivity, rule texts, colours."""

import itertools
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from regclip_bench.config import resolve_trial
from regclip_bench import identity as keys
from regclip_bench.identity import trial_identity
from regclip_bench.report import colors, figures, findings, leaderboard, protocol
from regclip_bench.report.protocol import Scoring
from regclip_bench.results import load
from regclip_bench.results.schema import TRIALS
from regclip_bench.spec import load_task
from stores import TASK, trial_row, write_store

ROOT = Path(__file__).resolve().parent.parent


# --- identity -----------------------------------------------------------------------------

def identity(**overrides):
    return trial_identity(resolve_trial(TASK, {"optimizer": "sgd", "lr": 0.1, **overrides}))


def test_keys_are_stable_and_each_changes_with_exactly_its_own_fields():
    base = identity()
    assert identity() == base                                                  # stable across runs
    assert base["workload"] == "teacher_mlp"                                   # the file's own workload
    for change in ({"width": 64}, {"depth": 3}, {"model.activation": "softplus"}, {"batch_size": 32},
                   {"steps": 301}, {"budget.lr_milestones": [100]}, {"data.n": 65}, {"data.noise": 0.1},
                   {"target.value": 1e-3}, {"log_every": 5}):
        other = identity(**change)
        assert other["workload_key"] != base["workload_key"], change
        assert other["config_key"] != base["config_key"] and other["trial_key"] != base["trial_key"], change
    vae = load_task("fashion_mnist_vae")
    here, there = (trial_identity(resolve_trial(vae, {"data.root": root})) for root in ("/here", "/there"))
    assert here == there                                                       # where the data lives: no change
    lr = identity(lr=0.2)
    assert lr["workload_key"] == base["workload_key"] and lr["config_key"] != base["config_key"]
    adam = identity(optimizer="adam")
    assert adam["workload_key"] == base["workload_key"] and adam["config_key"] != base["config_key"]
    seed = identity(seed=1)
    assert seed["config_key"] == base["config_key"] and seed["trial_key"] != base["trial_key"]
    assert identity(lr=1) == identity(lr=1.0)                                  # one spelling of a number
    assert identity(depth=4, width=64)["workload"] == "teacher_mlp[depth=4,width=64]"
    assert identity(**{"model.activation": "gelu"})["workload"] == "teacher_mlp[model.activation=gelu]"


# --- expected best at equal budget --------------------------------------------------------

def brute_force(values, k):
    """Mean over every k-subset of the best (smallest) value."""
    subsets = list(itertools.combinations(values, k))
    return sum(min(s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("seed", range(6))
def test_expected_best_of_k_is_the_mean_over_all_k_subsets(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 9)
    values = sorted(rng.choice([0.5, 1.0, 2.0, rng.random()]) for _ in range(n))   # ties included
    for k in range(1, n + 1):
        assert protocol.expected_best(np.array(values), k) == pytest.approx(brute_force(values, k), rel=1e-12)
        assert protocol.best_of_k_weights(n, k).sum() == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(4))
def test_the_tunability_curve_is_dodges_estimator_with_replacement(seed):
    """Dodge et al. (2019) draw the k configurations with replacement: the mean over all n^k k-tuples."""
    rng = random.Random(seed)
    values = sorted(rng.random() for _ in range(rng.randint(1, 5)))
    for k in range(1, len(values) + 2):
        tuples = list(itertools.product(values, repeat=k))
        assert protocol.expected_best(np.array(values), k, replacement=True) == pytest.approx(
            sum(min(t) for t in tuples) / len(tuples), rel=1e-12)
    configs = pd.DataFrame({"primary": values, "secondary": values, "metric": values, "time": values,
                            "reached": [True] * len(values)})
    curve = protocol.expected_curve(configs)
    assert curve["metric"].iloc[-1] > values[0] or len(values) == 1   # k = n with replacement is not the best


def test_expected_best_is_infinite_exactly_when_the_best_of_k_can_miss():
    values = np.array([10.0, 20.0, math.inf, math.inf])
    assert protocol.expected_best(values, 3) == pytest.approx(brute_force([10, 20, math.inf, math.inf], 3))
    assert protocol.expected_best(values, 2) == math.inf                      # {inf, inf} is a 2-subset
    assert protocol.expected_best(values, 3) < math.inf


def test_a_weighted_sum_is_correctly_rounded_whatever_the_order_of_its_terms():
    """BLAS sums a dot product in the order its kernel for the CPU picks: published numbers differed in
    the last digit from one CPU to another.  The protocol's sums are exact-then-rounded (math.fsum)."""
    weights, values = [1.0, 1.0, 1.0, 0.5], [1e16, 1.0, -1e16, 0.1]
    assert protocol.weighted_sum(weights, values) == 1.05                 # plain left-to-right: 0.05
    for order in itertools.permutations(range(4)):
        assert protocol.weighted_sum([weights[i] for i in order], [values[i] for i in order]) == 1.05
    # the best of 3 of (0.1, 0.2, 0.3): 0.1·(3/3) exactly, whichever way the zero terms are added
    assert protocol.expected_best(np.array([0.1, 0.2, 0.3]), 3) == 0.1
    assert protocol.expected_best(np.array([0.1, 0.2, 0.7]), 2) == pytest.approx((0.1 + 0.1 + 0.2) / 3, abs=0)


# --- hand-made stores ---------------------------------------------------------------------

# SGD: four learning rates over 3 decades; 1.0 diverges on one seed, 10 on both. Adam: two.
HAND = ([trial_row("sgd", lr, s, final, steps=steps)
         for lr, finals, steps in ((0.01, (0.5, 0.7), math.inf), (0.1, (0.1, 0.1), 50.0),
                                   (1.0, (0.04, math.nan), 20.0), (10.0, (math.nan, math.nan), math.inf))
         for s, final in enumerate(finals)]
        + [trial_row("adam", lr, s, final, steps=30.0) for lr, final in ((1e-3, 0.2), (1e-2, 0.05)) for s in (0, 1)])
HAND[5].update(status="diverged", steps_to_target=math.inf, seconds_to_target=math.inf)   # sgd lr 1.0, seed 1
HAND[6]["status"] = HAND[7]["status"] = "diverged"


def test_lr_sensitivity_stable_range_and_equal_budget_on_a_hand_made_store(tmp_path):
    store = write_store(tmp_path, HAND)
    board = leaderboard.compute(store)
    sgd, adam = (next(e for e in board["entries"] if e.get("optimizer") == o) for o in ("sgd", "adam"))
    # capped metrics (a diverged seed scores its initial loss, 1.0): lr 0.01 → 0.6, 0.1 → 0.1,
    # 1.0 → (0.04 + 1.0)/2 = 0.52, 10 → 1.0.  Best: 0.1 (mean 0.1).
    assert sgd["configuration"] == {"lr": 0.1} and sgd["metric_mean"] == pytest.approx(0.1)
    assert sgd["lr_sensitivity"] == pytest.approx((0.6 + 0.1 + 0.52 + 1.0) / 4 - 0.1)
    # reaching the target (median over seeds): 0.1 (50 steps) and 1.0 (median of 20 and inf: inf) → only 0.1
    assert sgd["stable_lr_decades"] == 0.0
    assert adam["lr_sensitivity"] is None and adam["stable_lr_decades"] is None   # 2 learning rates only
    # equal budget: k = 2 (adam's); sgd's best of 2 of its 4 configurations
    ranked = [0.1, 0.52, 0.6, 1.0]
    assert sgd["expected_best_at_equal_budget"]["k"] == 2
    assert sgd["expected_best_at_equal_budget"]["metric"] == pytest.approx(brute_force(ranked, 2))
    assert adam["expected_best_at_equal_budget"]["metric"] == pytest.approx(0.05)
    assert sgd["budget"] == {"configurations": 4, "trials": 8, "train_seconds": 8.0}
    assert (adam["rank"], sgd["rank"]) == (1, 2)
    assert not sgd["headline"]          # "w1" is not the key of a workload the task file names as headline


def test_headline_workloads_come_first(tmp_path):
    headline = protocol.headline_keys("teacher_mlp")
    assert len(headline) == 2 and headline[0] == trial_identity(resolve_trial(TASK, {}))["workload_key"]
    rows = [trial_row("sgd", 0.1, s, 0.1, workload=w, label=label)
            for w, label in (("w0", "teacher_mlp[width=8]"), (headline[1], "teacher_mlp[depth=4]"),
                             (headline[0], "teacher_mlp")) for s in (0, 1)]
    board = leaderboard.compute(write_store(tmp_path, rows))
    ran = [e["workload"] for e in board["entries"] if e["status"] == "ran"]
    assert ran == ["teacher_mlp", "teacher_mlp[depth=4]", "teacher_mlp[width=8]"]
    assert [e["headline"] for e in board["entries"] if e["status"] == "ran"] == [True, True, False]
    leaderboard.write(board, tmp_path / "site")
    markdown = (tmp_path / "site" / "leaderboard.md").read_text()
    assert markdown.index("## Headline workloads") < markdown.index("teacher_mlp[depth=4]") < markdown.index(
        "## Other workloads") < markdown.index("teacher_mlp[width=8]")


def test_stable_range_spans_the_learning_rates_that_reach_the_target(tmp_path):
    rows = [trial_row("sgd", lr, s, 0.1 / lr if lr < 1 else 0.5, steps=steps)
            for lr, steps in ((0.01, math.inf), (0.03, 90.0), (0.1, 40.0), (0.3, 30.0), (1.0, math.inf))
            for s in (0, 1)]
    sgd = next(e for e in leaderboard.compute(write_store(tmp_path, rows))["entries"] if e.get("optimizer") == "sgd")
    assert sgd["stable_lr_decades"] == pytest.approx(math.log10(0.3 / 0.03))


def test_on_a_final_metric_task_a_stable_rate_ends_at_the_target(tmp_path):
    """lsq_gaussian scores the final excess risk (target 0.1).  η = 3 reached the target at some evaluation
    on both seeds (finite steps to target) but ended above it on both: not stable; the range is η = 1 alone."""
    lsq = load_task("lsq_gaussian")
    assert (lsq.target.score, lsq.target.metric, lsq.target.value) == ("final_metric", "excess_risk", 0.1)
    rows = []
    for lr, finals, steps in ((0.3, (0.2, 0.3), math.inf), (1.0, (0.04, 0.045), 100.0), (3.0, (0.12, 0.18), 200.0)):
        for s, final in enumerate(finals):
            row = trial_row("sgd", lr, s, final, steps=steps)
            row.update(workload_json=json.dumps(keys.workload(lsq)), final_excess_risk=final, initial_excess_risk=1.0)
            rows.append(row)
    sgd = next(e for e in leaderboard.compute(write_store(tmp_path, rows))["entries"] if e.get("optimizer") == "sgd")
    assert sgd["configuration"] == {"lr": 1.0} and sgd["stable_lr_decades"] == 0.0
    (line,) = [f for f in findings.findings([("teacher_mlp", s) for s in protocol.studies(
        load(str(tmp_path), "trials"))]) if f["kind"] == "lr_range"]
    assert line["evidence"]["sgd"]["stable"] == [1.0]
    assert line["claim"].startswith("learning rates whose median seed ends at the target: sgd only η = 1")


def test_time_to_target_selection_breaks_ties_by_the_metric(tmp_path):
    rows = [trial_row("sgd", 0.1, s, 0.3, steps=40.0) for s in (0, 1)]
    rows += [trial_row("sgd", 0.2, s, 0.2, steps=40.0) for s in (0, 1)]     # as fast, better metric
    rows += [trial_row("sgd", 0.4, s, 0.01, steps=math.inf) for s in (0, 1)]  # best metric, never on time
    sgd = next(e for e in leaderboard.compute(write_store(tmp_path, rows))["entries"] if e.get("optimizer") == "sgd")
    assert load_task("teacher_mlp").target.score == "time_to_target"
    assert sgd["configuration"] == {"lr": 0.2} and sgd["selection"]["time_measure"] == "steps_to_target"


def test_where_both_can_miss_the_target_the_likelier_to_reach_it_ranks_first(tmp_path):
    rows = [trial_row("adam", lr, s, final, steps=steps)          # one of three configurations reaches it
            for lr, final, steps in ((1e-3, 0.3, 40.0), (1e-2, 0.5, math.inf), (1e-1, 0.6, math.inf)) for s in (0, 1)]
    rows += [trial_row("sgd", lr, s, final) for lr, final in ((0.1, 0.1), (0.2, 0.2)) for s in (0, 1)]   # neither
    board = leaderboard.compute(write_store(tmp_path, rows))
    adam, sgd = (next(e for e in board["entries"] if e.get("optimizer") == o) for o in ("adam", "sgd"))
    assert adam["expected_best_at_equal_budget"]["k"] == 2                           # the best of 2 of 3 can miss
    assert adam["expected_best_at_equal_budget"]["time_to_target"] == math.inf == sgd["time_to_target_median"]
    assert adam["expected_best_at_equal_budget"]["p_reach"] == pytest.approx(2 / 3)
    assert sgd["expected_best_at_equal_budget"]["p_reach"] == 0.0
    assert adam["expected_best_at_equal_budget"]["metric"] == pytest.approx(2 / 3 * 0.3 + 1 / 3 * 0.5)
    assert sgd["expected_best_at_equal_budget"]["metric"] == pytest.approx(0.1)     # better, but never reaches it
    assert (adam["rank"], sgd["rank"]) == (1, 2)


def test_rule_texts_are_right_for_metrics_to_minimise_and_to_maximise():
    low = Scoring("final_loss", "initial_loss", "min", "final_metric").describe()
    high = Scoring("final_test_accuracy", "initial_test_accuracy", "max", "final_metric").describe()
    assert "lowest mean" in low and "min(final, initial)" in low and "highest" not in low
    assert "highest mean" in high and "max(final, initial)" in high and "lowest" not in high
    timed = Scoring("final_test_accuracy", "initial_test_accuracy", "max", "time_to_target").describe()
    assert "fewest median steps" in timed and "highest mean" in timed
    assert Scoring.of(json.dumps(keys.workload(load_task("digits_mlp")))) == Scoring(
        "final_test_accuracy", "initial_test_accuracy", "max", "time_to_target", 0.95)
    vae = load_task("fashion_mnist_vae")
    assert Scoring.of(json.dumps(keys.workload(vae))) == Scoring(
        "final_test_loss", "initial_test_loss", "min", "final_metric", vae.target.value)
    assert Scoring.of('{"task": "elsewhere"}') == Scoring("final_loss", "initial_loss", "min", "final_metric")


def test_capped_metric_counts_a_diverged_seed_as_its_initial_value():
    rows = pd.DataFrame([trial_row("sgd", 1.0, 0, 0.3), trial_row("sgd", 1.0, 1, math.nan, status="diverged"),
                         trial_row("sgd", 1.0, 2, 1.5, status="no_progress"),
                         trial_row("sgd", 1.0, 3, math.nan, initial=math.nan, status="diverged")])
    low = Scoring("final_loss", "initial_loss", "min", "final_metric")
    assert protocol.capped_metric(rows, low).tolist() == [0.3, 1.0, 1.0, math.inf]


# --- one colour per optimizer -------------------------------------------------------------

def legend_colours(fig):
    found = {}
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            colour = handle.get_color() if hasattr(handle, "get_color") else handle.get_facecolor()
            found[text.get_text()] = mcolors.to_hex(colour)
    return found


def test_every_figure_draws_an_optimizer_in_its_one_colour():
    names = ["adam", "sgd", "delta_gclip", "external_optimizer"]
    steps = pd.DataFrame([{"optimizer": o, "step": s, "loss": 1.0 / (s + i), "clip_factor": 1.0,
                           "frac_unclipped": 1.0, "frac_clipped": 0.0, "frac_floor": 0.0}
                          for i, o in enumerate(names) for s in (1, 2, 3) for _ in (0, 1)])
    curve = pd.DataFrame({"k": [1, 2], "metric": [0.5, 0.4], "time_to_target": [30.0, 20.0], "p_reach": [0.5, 1.0]})
    points = pd.DataFrame([{"optimizer": o, "lr": lr, "capped": lr, "status": "completed"}
                           for o in names for lr in (0.1, 1.0)])
    best = pd.DataFrame([{"optimizer": o, "width": w, "depth": 1, "max_rel_dist_from_init": 1 / w}
                         for o in names for w in (64, 256)])
    made = [figures.curves(steps, "loss", "loss", "t"), figures.tunability({o: curve for o in names}, "loss", True, "t"),
            figures.lr_sensitivity(points, "loss", True, "t"), figures.relative_distance_vs_width(best)]
    for fig in made:
        shown = {k: v for k, v in legend_colours(fig).items() if k in names}
        assert set(shown) == set(names), fig
        assert shown == {n: mcolors.to_hex(colors.of(n)) for n in names}
        labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        assert [n for n in labels if n in names] == colors.order(names) == ["delta_gclip", "sgd", "adam", "external_optimizer"]
        figures.plt.close(fig)


# --- a real budgeted sweep over two batch sizes ---------------------------------------------

def cli(*args):
    return subprocess.run([sys.executable, "-m", "regclip_bench.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)


def test_a_budgeted_sweep_over_two_batch_sizes_gives_two_workloads_never_merged(tmp_path):
    common = ["teacher_mlp", "--grid", "batch_size=32,64", "--optimizers", "sgd,gclip", "--seeds", "1",
              "--set", "width=16", "--set", "depth=1", "--set", "steps=12", "--set", "log_every=4",
              "--set", "eval_every=12", "--name", "bs", "--storage", str(tmp_path / "sweeps"),
              "--store", str(tmp_path / "store"), "--no-held-out"]
    done = cli("sweep", *common, "--budget", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "12 trials" in done.stdout
    more = cli("sweep", *common, "--budget", "4")                 # the first 3 points are kept
    assert more.returncode == 0 and "12 of 16 trials were already finished" in more.stdout, more.stdout
    manifest = json.loads((tmp_path / "sweeps" / "bs" / "sweep.json").read_text())
    assert [r["budget_per_optimizer"] for r in manifest["runs"]] == [3, 4]
    assert manifest["runs"][0]["mode"] == "budget" and "Halton" in manifest["runs"][0]["sequence"]
    assert manifest["runs"][0]["ranges"]["sgd"] == {"lr": "loguniform(0.03, 30)"}

    trials = load(str(tmp_path / "store"), "trials")
    assert len(trials) == 16 and trials.workload.nunique() == 2
    assert set(trials.workload) == {f"teacher_mlp[batch_size={b},depth=1,eval_every=12,log_every=4,steps=12,width=16]"
                                    for b in (32, 64)}
    assert (trials.groupby(["workload", "optimizer"]).config_key.nunique() == 4).all()   # equal budgets
    board = leaderboard.compute(str(tmp_path / "store"))
    ran = [e for e in board["entries"] if e["status"] == "ran"]
    assert len(ran) == 4 and {(e["workload"], e["optimizer"]) for e in ran} == {
        (w, o) for w in set(trials.workload) for o in ("sgd", "gclip")}
    for entry in ran:   # every number comes from its own workload's trials only
        mine = trials[(trials.workload == entry["workload"]) & (trials.optimizer == entry["optimizer"])]
        assert entry["budget"]["trials"] == len(mine) == 4 and entry["expected_best_at_equal_budget"]["k"] == 4
        assert set(entry["provenance"]["sweep_ids"]) == set(mine.sweep_id)
    done = cli("report", str(tmp_path / "store"), "--out", str(tmp_path / "report"))
    assert done.returncode == 0, done.stderr
    meta = json.loads((tmp_path / "report" / "teacher_mlp" / "report.json").read_text())
    assert len(meta["workloads"]) == 2
    per_workload = [n for n in meta["figures"] if n.startswith(("loss-", "tunability-", "lr-"))]
    assert {meta["sections"][n] for n in per_workload} == set(trials.workload)   # a figure belongs to one workload
    assert all(sum(n.startswith(p) for n in per_workload) == 2 for p in ("loss-", "tunability-"))


def test_this_version_computes_the_keys_the_published_store_holds():
    """Keys are stable across versions of the code: recomputed, they are the ones in results/store."""
    from regclip_bench.identity import identity_from_flat
    trials = load(str(ROOT / "results" / "store"), "trials")
    sample = trials.drop_duplicates("config_key").groupby("task").head(25)
    assert len(sample) >= 25
    for row in sample.itertuples():
        computed = identity_from_flat(json.loads(row.config_json))
        assert (computed["workload_key"], computed["config_key"], computed["workload"]) == (
            row.workload_key, row.config_key, row.workload)


# --- held-out seeds -------------------------------------------------------------------------

def held_row(optimizer, lr, seed, final, steps, **kw):
    return trial_row(optimizer, lr, seed, final, steps=steps, **kw) | {"sweep_id": "budgeted"}


def frame(rows) -> pd.DataFrame:
    """Rows as the store gives them back: every column of the trials table."""
    return pa.Table.from_pylist(rows, schema=TRIALS).to_pandas()


def test_configurations_are_chosen_on_the_tuning_seeds_and_reported_on_the_held_out_ones():
    """sgd's η 0.1 is best on seeds 0-2 (20 steps against 40); on the held-out seeds it takes 60: what is
    published is 60, never the 20 it was chosen by; adam, slower on the tuning seeds, ranks first on the
    held-out ones; the grid trials of the same workload stay out."""
    report = list(range(10_000, 10_004))
    rows = [held_row("sgd", 0.1, s, 0.1, 20.0) for s in (0, 1, 2)]
    rows += [held_row("sgd", 1.0, s, 0.1, 40.0) for s in (0, 1, 2)]
    rows += [held_row("sgd", 0.1, s, 0.1, 60.0) for s in report]
    rows += [held_row("adam", 1e-3, s, 0.1, 30.0) for s in (0, 1, 2)]
    rows += [held_row("adam", 1e-2, s, 0.1, 35.0) for s in (0, 1, 2)]
    rows += [held_row("adam", 1e-3, s, 0.1, 30.0) for s in report]
    grid = [trial_row("sgd", lr, s, 0.1, steps=1.0) | {"sweep_id": "grid", "trial_id": f"g{lr}{s}"}
            for lr in (0.3, 3.0) for s in (0, 1, 2)]   # faster than anything budgeted: must not be chosen
    trials = frame(rows + grid)
    assert protocol.chosen(frame(rows)) == {("w1", "sgd"): "w1-sgd-0.1-None", ("w1", "adam"): "w1-adam-0.001-None"}
    (found,) = protocol.studies(trials, {"budgeted": "budget,report", "grid": "grid"})
    assert found.protocol == "budget" and found.held_out and found.k == 2
    adam, sgd = found.entries
    assert (adam.optimizer, adam.rank, sgd.rank) == ("adam", 1, 2)
    assert sgd.best["config_key"] == "w1-sgd-0.1-None" and sgd.seeds == {"tune": [0, 1, 2], "report": report}
    assert sgd.reported["time_to_target"] == 60.0 and sgd.expected["time_to_target"] == 20.0
    assert sgd.trials["seed"].tolist() == report and sgd.budget["configurations"] == 2
    assert sgd.budget["trials"] == 6 + 4
    (grid_only,) = protocol.studies(trials, {})              # no budgeted sweep: the grid's trials, all of them
    sgd = next(e for e in grid_only.entries if e.optimizer == "sgd")
    assert grid_only.protocol == "grid" and sgd.best["lr"] in (0.3, 3.0) and sgd.budget["configurations"] == 4


def test_without_held_out_seeds_for_every_optimizer_the_rank_is_at_equal_budget():
    rows = [held_row("sgd", 0.1, s, 0.1, 20.0) for s in (0, 1, 2)]
    rows += [held_row("sgd", 0.1, s, 0.1, 60.0) for s in range(10_000, 10_004)]
    rows += [held_row("adam", 1e-3, s, 0.1, 30.0) for s in (0, 1, 2)]
    (found,) = protocol.studies(frame(rows), {"budgeted": "budget"})
    assert not found.held_out and [e.optimizer for e in found.entries] == ["sgd", "adam"]
    assert found.entries[1].seeds == {"tune": [0, 1, 2], "report": []}
    # like with like: sgd's held-out seeds stay unused while adam has none
    assert found.entries[0].seeds["report"] == [] and found.entries[0].reported["time_to_target"] == 20.0


def test_a_workload_where_some_optimizer_was_only_gridded_keeps_every_optimizer():
    rows = [held_row("sgd", 0.1, s, 0.1, 20.0) for s in (0, 1, 2)]
    rows += [trial_row("adam", lr, s, 0.1, steps=30.0) | {"sweep_id": "grid", "trial_id": f"a{lr}{s}"}
             for lr in (1e-3, 1e-2) for s in (0, 1, 2)]
    (found,) = protocol.studies(frame(rows), {"budgeted": "budget,report", "grid": "grid"})
    assert found.protocol == "grid" and {e.optimizer for e in found.entries} == {"sgd", "adam"}


def test_the_held_out_trials_are_the_chosen_configurations_on_the_tasks_report_seeds():
    from regclip_bench.spec import REPORT_SEED_BASE, load_task, report_seeds
    from regclip_bench.sweep.grid import plan_budget, plan_report
    task = load_task("lsq_gaussian")
    assert report_seeds(task) == list(range(REPORT_SEED_BASE, REPORT_SEED_BASE + 10))
    assert REPORT_SEED_BASE > 1_000    # above any tuning seed a task can declare (search_space.seeds <= 1,000)
    trials, _ = plan_budget(task, 3, optimizers=["sgd", "adam"], fixed={"width": 0, "depth": 0})
    chosen = {keys.trial_identity(t.config)["config_key"] for t in trials[:1] + trials[-1:]}
    held = plan_report(task, trials, chosen)
    assert len(held) == 20 and {t.config.seed for t in held} == set(report_seeds(task))
    assert {keys.trial_identity(t.config)["config_key"] for t in held} == chosen
    assert not {t.key for t in held} & {t.key for t in trials}


def test_a_budgeted_sweep_runs_each_chosen_configuration_on_the_held_out_seeds(tmp_path):
    """The protocol end to end on Ray: tune on seeds 0-1, choose per optimizer by the leaderboard's rule
    (computed here by hand), run the choice on the 10 held-out seeds; the leaderboard publishes those."""
    args = ["sweep", "teacher_mlp", "--optimizers", "sgd,gclip", "--seeds", "2", "--budget", "3",
            "--set", "width=16", "--set", "depth=1", "--set", "steps=12", "--set", "log_every=4",
            "--set", "eval_every=12", "--name", "held", "--storage", str(tmp_path / "sweeps"),
            "--store", str(tmp_path / "store")]
    done = cli(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "on 10 held-out seeds (10000–10009): 20 more trials" in done.stdout
    assert "ran 32 trials" in done.stdout, done.stdout
    runs = json.loads((tmp_path / "sweeps" / "held" / "sweep.json").read_text())["runs"]
    assert [r["mode"] for r in runs] == ["budget", "report"] and runs[1]["report_seeds"] == list(range(10_000, 10_010))
    trials = load(str(tmp_path / "store"), "trials")
    tune, held = trials[trials.seed < 2], trials[trials.seed >= 10_000]
    assert len(tune) == 12 and len(held) == 20
    for optimizer, mine in tune.groupby("optimizer"):
        capped = np.fmin(mine.final_loss.where(mine.status == "completed", mine.initial_loss), mine.initial_loss)
        per = mine.assign(c=capped).groupby("config_key").agg(steps=("steps_to_target", "median"), c=("c", "mean"))
        best = per.reset_index().sort_values(["steps", "c", "config_key"]).config_key.iloc[0]
        assert set(held[held.optimizer == optimizer].config_key) == {best} and set(runs[1]["chosen"]) >= {best}
    board = leaderboard.compute(str(tmp_path / "store"))
    for entry in (e for e in board["entries"] if e["status"] == "ran"):
        assert entry["seeds"]["tune"] == [0, 1] and entry["seeds"]["report"] == list(range(10_000, 10_010))
        assert entry["ranked_by"] == "held-out seeds" and entry["protocol"] == "budget"
        mine = held[held.optimizer == entry["optimizer"]]
        capped = np.fmin(mine.final_loss.where(mine.status == "completed", mine.initial_loss), mine.initial_loss)
        assert entry["metric_mean"] == pytest.approx(capped.mean(), rel=1e-12)
    again = cli(*args)                                              # nothing new to run, nothing chosen anew
    assert again.returncode == 0 and "ran 0 trials" in again.stdout, again.stdout
    refused = cli("sweep", "teacher_mlp", "--no-held-out", "--dry-run")
    assert refused.returncode == 2 and "--no-held-out" in refused.stderr
