"""The generated findings: on hand-made stores, each claim appears exactly when its evidence holds,
with the numbers it rests on."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from regclip_bench import identity as keys
from regclip_bench.report import leaderboard, protocol
from regclip_bench.report.findings import welch
from stores import TASK, trial_row, write_store


def row(optimizer, lr, seed, *, steps=50.0, final=0.1, workload="w1", width=1024, depth=2, gamma=None, delta=None,
        **columns):
    label = f"teacher_mlp[{workload}]"
    r = trial_row(optimizer, lr, seed, final, steps=steps, gamma=gamma, workload=workload, label=label)
    config = json.loads(r["config_json"]) | {"width": width, "depth": depth} | ({"delta": delta} if delta else {})
    key = f"{workload}-{optimizer}-{lr}-{gamma}-{delta}"
    r.update(config_json=json.dumps(config, sort_keys=True), width=width, depth=depth, delta=delta, config_key=key,
             trial_id=f"{key}-{seed}", config_hash=f"{key}-{seed}",
             workload_json=json.dumps(keys.workload(TASK) | {"model.width": width, "model.depth": depth}))
    return r | columns


def found(tmp_path, rows, kind=None):
    board = leaderboard.compute(write_store(tmp_path, rows))
    return [f for f in board["findings"] if kind is None or f["kind"] == kind]


def hand_welch(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    diff = a.mean() - b.mean()
    return diff, diff - half, diff + half


def test_welch_interval_is_the_textbook_one():
    a, b = [50, 52, 51, 55], [30, 31, 32]
    assert welch(a, b) == pytest.approx(hand_welch(a, b), rel=1e-12)
    assert math.isnan(welch([1.0], [2.0, 3.0])[1])                       # one seed: no interval


def test_a_leader_is_claimed_best_only_when_its_lead_exceeds_the_interval(tmp_path):
    slow, fast = (50.0, 52.0, 51.0), (30.0, 31.0, 32.0)
    rows = [row("sgd", 0.1, s, steps=t) for s, t in enumerate(slow)]
    rows += [row("adam", 1e-3, s, steps=t) for s, t in enumerate(fast)]
    (claim,) = found(tmp_path / "a", rows, "leader")
    diff, low, high = hand_welch(slow, fast)
    assert claim["claim"].startswith("adam is best at equal budget (k = 1), ahead of sgd beyond the 95% interval")
    versus = claim["evidence"]["against"]["sgd"]
    assert versus["advantage"] == pytest.approx(diff) == pytest.approx(20.0)
    assert versus["ci95"] == pytest.approx([low, high]) and low > 0
    assert versus["verdict"] == "better" and claim["workload"] == "teacher_mlp[w1]"

    spread = [row("sgd", 0.1, s, steps=t) for s, t in enumerate((30.0, 60.0, 45.0))]
    spread += [row("adam", 1e-3, s, steps=t) for s, t in enumerate((31.0, 40.0, 50.0))]
    (claim,) = found(tmp_path / "b", spread, "leader")
    assert claim["evidence"]["against"]["sgd"]["verdict"] == "not separated"
    assert claim["evidence"]["against"]["sgd"]["ci95"][0] < 0
    assert "is best" not in claim["claim"] and "not separated from sgd (sgd: advantage" in claim["claim"]

    # a third, slower optimizer: not separated from sgd, ahead of the third
    three = spread + [row("gclip", 1.0, s, gamma=0.1, steps=t) for s, t in enumerate((90.0, 91.0, 92.0))]
    (claim,) = found(tmp_path / "b3", three, "leader")
    assert claim["evidence"]["not_separated_from"] == ["sgd"]
    assert "; it is ahead of gclip beyond the 95% interval: advantage in tuned steps to target 50" in claim["claim"]

    tie = [row(o, lr, s, steps=40.0) for o, lr in (("sgd", 0.1), ("adam", 1e-3)) for s in range(3)]
    (claim,) = found(tmp_path / "c", tie, "leader")
    assert claim["claim"] == "adam and sgd tie for first at equal budget (k = 1)."

    # some seeds missed: how many reached the target, by Boschloo's exact test at 5% (3 of 3 against 0 of 3: 1/32)
    missed = [row("sgd", 0.1, s, steps=math.inf) for s in range(3)]
    missed += [row("adam", 1e-3, s, steps=t) for s, t in enumerate(fast)]
    (claim,) = found(tmp_path / "e", missed, "leader")
    assert claim["claim"] == ("adam is best at equal budget (k = 1), ahead of sgd: its chosen configuration reached "
                              "the target on 3 of 3 seeds, sgd's on 0 of 3 (Boschloo's exact test, p = 0.031).")
    versus = claim["evidence"]["against"]["sgd"]
    assert versus["reached"] == [3, 0] and versus["advantage"] is None
    assert versus["p_value"] == pytest.approx(1 / 32) and versus["verdict"] == "better"
    once = missed[:2] + [row("sgd", 0.1, 2, steps=60.0)] + missed[3:]                     # 3 of 3 against 1 of 3
    (claim,) = found(tmp_path / "e1", once, "leader")
    assert claim["claim"] == ("adam ranks first at equal budget (k = 1) but is not separated from sgd (sgd: its "
                              "chosen configuration reached the target on 3 of 3 seeds, sgd's on 1 of 3 (Boschloo's "
                              "exact test, p = 0.22)).")
    assert claim["evidence"]["against"]["sgd"]["p_value"] == pytest.approx(7 / 32, abs=1e-12)

    neither = [row("sgd", 0.1, s, steps=math.inf, final=f) for s, f in enumerate((0.50, 0.52, 0.51))]
    neither += [row("adam", 1e-3, s, steps=math.inf, final=f) for s, f in enumerate((0.30, 0.31, 0.32))]
    (claim,) = found(tmp_path / "f", neither, "leader")     # both always miss: the metric, the rank's tie-break
    versus = claim["evidence"]["against"]["sgd"]
    assert versus["measure"] == "final_loss" and versus["verdict"] == "better"
    assert versus["advantage"] == pytest.approx(0.2)

    # every seed alike on each side (times counted in evaluation intervals): only their order, a permutation test
    alike = [row("sgd", 0.1, s, steps=90.0) for s in range(3)] + [row("adam", 1e-3, s, steps=45.0) for s in range(3)]
    (claim,) = found(tmp_path / "g", alike, "leader")
    assert claim["evidence"]["against"]["sgd"]["verdict"] == "not separated"
    assert "advantage in tuned steps to target 45 (every seed alike on each side: permutation test p = 0.1, 3 and 3 " \
           "seeds)" in claim["claim"]
    alike5 = [row("sgd", 0.1, s, steps=90.0) for s in range(5)] + [row("adam", 1e-3, s, steps=45.0) for s in range(5)]
    (claim,) = found(tmp_path / "g5", alike5, "leader")
    assert claim["claim"] == ("adam is best at equal budget (k = 1), ahead of sgd: advantage in tuned steps to target "
                              "45 (every seed alike on each side: permutation test p = 0.0079, 5 and 5 seeds).")
    assert math.isnan(welch([90.0] * 3, [45.0] * 3)[1]) and welch([90.0] * 5, [45.0] * 5) == (45.0, 45.0, 45.0)
    same = [row("adam", 1e-3, s, steps=45.0, final=0.05) for s in range(3)] + [row("sgd", 0.1, s, steps=45.0)
                                                                             for s in range(3)]
    (claim,) = found(tmp_path / "g0", same, "leader")       # alike and equal: no interval to print, no difference
    assert claim["claim"] == ("adam ranks first at equal budget (k = 1) but is not separated from sgd (sgd: advantage "
                              "in tuned steps to target 0 (every seed alike on each side, 3 and 3 seeds)).")

    alone = [row("sgd", 0.1, s, steps=40.0) for s in range(3)]
    assert found(tmp_path / "d", alone, "leader") == []                   # nothing to compare


def test_stable_learning_rates_are_listed_only_for_a_scan_that_spans_a_decade(tmp_path):
    rows = [row("sgd", lr, s, steps=steps) for lr, steps in ((0.01, math.inf), (0.1, 40.0), (1.0, 30.0))
            for s in range(2)]
    rows += [row("adam", lr, s, steps=30.0) for lr in (1e-3, 3e-3) for s in range(2)]   # two rates: no scan
    (claim,) = found(tmp_path, rows, "lr_range")
    assert claim["claim"] == ("learning rates whose median seed reaches the target: sgd η 0.1–1 (1.0 decades), "
                              "best at the largest η tried.")       # the fastest, η = 1, ends the scan
    assert claim["evidence"] == {"sgd": {"tried": [0.01, 0.1, 1.0], "stable": [0.1, 1.0], "decades": 1.0,
                                         "best": 1.0, "best_at_edge": "largest"}}
    gap = [row("sgd", lr, s, steps=steps) for lr, steps in ((0.01, 50.0), (0.1, math.inf), (1.0, 30.0)) for s in range(2)]
    (claim,) = found(tmp_path / "gap", gap, "lr_range")          # a range with a hole says so
    assert claim["claim"] == ("learning rates whose median seed reaches the target: sgd η 0.01–1 (2.0 decades; "
                              "not η = 0.1), best at the largest η tried.")
    inside = [row("sgd", lr, s, steps=steps) for lr, steps in ((0.01, 50.0), (0.1, 20.0), (1.0, 30.0)) for s in range(2)]
    (claim,) = found(tmp_path / "inside", inside, "lr_range")    # the best inside the scan: nothing to add
    assert claim["claim"] == "learning rates whose median seed reaches the target: sgd η 0.01–1 (2.0 decades)."
    assert claim["evidence"]["sgd"]["best"] == 0.1 and claim["evidence"]["sgd"]["best_at_edge"] is None


def test_the_floor_is_reported_where_it_engaged_with_its_effect_against_gclip(tmp_path):
    rows = [row("delta_gclip", 1.0, s, gamma=0.1, delta=0.1, steps=t, frac_floor=0.2)
            for s, t in enumerate((30.0, 31.0, 32.0))]
    rows += [row("gclip", 1.0, s, gamma=0.1, steps=t) for s, t in enumerate((50.0, 52.0, 51.0))]
    rows += [row("delta_gclip", 1.0, s, gamma=0.1, delta=0.1, steps=40.0, frac_floor=0.001, workload="w2")
             for s in range(3)]
    engaged, quiet = found(tmp_path, rows, "floor")
    assert engaged["workload"] == "teacher_mlp[w1]" and engaged["evidence"]["frac_floor"] == pytest.approx(0.2)
    assert engaged["claim"].startswith("the δ floor engaged on 20.0% of delta_gclip's steps (chosen configuration, "
                                       "δ = 0.1); delta_gclip is better than GClip's tuned best beyond the 95%")
    assert engaged["evidence"]["advantage"] == pytest.approx(20.0)
    assert quiet["workload"] == "" and quiet["evidence"]["workloads"] == [
        {"workload": "teacher_mlp[w2]", "optimizer": "delta_gclip", "frac_floor": pytest.approx(0.001)}]
    assert "(delta_gclip on 1 workload)" in quiet["claim"]


def with_steps(store: str, curves: dict[str, list[float]]) -> str:
    """Add logged rows (step 10, 20, …, 300; loss from `curves`) for the given trial ids to a store."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from regclip_bench.results.schema import SCHEMA_VERSION, STEPS, VERSION_KEY
    rows = [{"sweep_id": "hand", "trial_id": trial, "step": step, "loss": loss}
            for trial, losses in curves.items() for step, loss in zip(range(10, 310, 10), losses)]
    folder = Path(store) / "steps" / "task=teacher_mlp"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=STEPS).replace_schema_metadata(
        {VERSION_KEY: str(SCHEMA_VERSION)}), folder / "hand.parquet")
    return store


STEPS_AT = np.arange(10, 310, 10, dtype=float)
GEOMETRIC = 0.5 * 0.99 ** STEPS_AT                       # L ∝ ρᵗ
POWER_LAW = 0.5 * (STEPS_AT / 10) ** -1.5                # L ∝ t^−α


def test_geometric_decay_is_claimed_only_where_it_beats_a_power_law_on_every_seed(tmp_path):
    """A power law's log loss is also close to a line in t over half a run (R² ≈ 0.97 here): the check
    fits both on the same rows and claims geometric only by a clear margin (ΔAIC ≥ 10)."""
    from regclip_bench.report.findings import decay_shape
    from regclip_bench.summary import fit_line
    late = STEPS_AT >= 150
    assert fit_line(list(zip(STEPS_AT[late], np.log(POWER_LAW[late]))))[1] > 0.95   # what R² ≥ 0.9 accepted
    noise = [np.exp(0.01 * np.sin(np.arange(30) * (s + 1))) for s in range(3)]
    frame = lambda losses: pd.DataFrame({"step": STEPS_AT, "loss": losses})
    assert decay_shape(frame(GEOMETRIC * noise[0]))["shape"] == "geometric"
    assert decay_shape(frame(POWER_LAW * noise[0]))["shape"] == "power law"
    assert decay_shape(frame(GEOMETRIC * noise[0]))["rate"] == pytest.approx(0.99, abs=1e-3)

    headline = protocol.headline_keys("teacher_mlp")[0]
    runs = [row("delta_gclip", 1.0, s, gamma=0.1, delta=0.1, workload=headline) for s in range(3)]
    store = write_store(tmp_path / "a", runs)
    with_steps(store, {r["trial_id"]: GEOMETRIC * n for r, n in zip(runs, noise)})
    (claim,) = [f for f in leaderboard.compute(store)["findings"] if f["kind"] == "theory"]
    assert claim["claim"].startswith("δ-GClip's training loss fell geometrically over the second half of the run, "
                                     "×0.9900 per step: a geometric decay fits clearly better than a power law on each "
                                     "of 3 seeds (ΔAIC ")
    store = write_store(tmp_path / "b", runs)
    with_steps(store, {r["trial_id"]: (POWER_LAW if r["seed"] == 1 else GEOMETRIC) * n for r, n in zip(runs, noise)})
    (claim,) = [f for f in leaderboard.compute(store)["findings"] if f["kind"] == "theory"]
    assert claim["claim"].startswith("δ-GClip's training loss did not fall clearly geometrically over the second "
                                     "half on every seed: geometric on 2, power law on 1 of 3")
    assert [s["shape"] for s in claim["evidence"]["seeds"]] == ["geometric", "power law", "geometric"]
    not_headline = [r | {"workload_key": "w9"} for r in runs]
    assert found(tmp_path / "c", not_headline, "theory") == []


@pytest.mark.parametrize("distances,spread,verdict", [
    ((0.3, 0.1, 0.05), 0.01, "shrank with width, as the theorem predicts (each fall beyond its 95% Welch interval)"),
    ((0.1, 0.2, 0.05), 0.01, "grew with width, against the theorem (beyond the 95% Welch interval)"),
    ((0.3, 0.25, 0.2), 0.5, "is not separated across widths at the 95% level")])   # falls, within the seeds' spread
def test_relative_distance_against_width_states_what_was_measured(tmp_path, distances, spread, verdict):
    rows = [row("delta_gclip", 1.0, s, gamma=0.1, delta=0.1, workload=f"width{w}", width=w,
                max_rel_dist_from_init=d * (1 + spread * s))
            for w, d in zip((64, 256, 1024), distances) for s in range(3)]
    (claim,) = found(tmp_path, rows, "theory")
    assert claim["evidence"]["widths"] == [64, 256, 1024]
    assert claim["evidence"]["max_rel_dist_from_init"] == pytest.approx([d * (1 + spread) for d in distances])
    assert f") {verdict}: " in claim["claim"] and claim["evidence"]["shrinks"] is verdict.startswith("shrank")
    first = welch([distances[0] * (1 + spread * s) for s in range(3)], [distances[1] * (1 + spread * s) for s in range(3)])
    assert claim["evidence"]["falls_ci95"][0] == pytest.approx(list(first[1:]))
    assert claim["claim"].startswith("at depth 2, δ-GClip's largest relative distance from w₀ "
                                     "(delta=0.1, gamma=0.1, lr=1)")


def test_the_absolute_distance_stands_beside_the_relative_one(tmp_path):
    """Published: ‖w − w₀‖ ≈ 4.4 → 4.4 → 4.0 while ‖w₀‖ grows 72 → 264 → 1,032 — the relative distance
    falls because ‖w₀‖ grows, which the page must say."""
    rows = [row("delta_gclip", 1.0, s, gamma=0.1, delta=0.1, workload=f"width{w}", width=w,
                max_dist_from_init=d * (1 + 0.01 * s), w0_norm=n, max_rel_dist_from_init=d * (1 + 0.01 * s) / n)
            for w, d, n in ((64, 4.4, 72.0), (256, 4.4, 264.0), (1024, 4.0, 1032.0)) for s in range(3)]
    (claim,) = found(tmp_path, rows, "theory")
    assert claim["evidence"]["max_dist_from_init"] == pytest.approx([4.444, 4.444, 4.04])
    assert claim["evidence"]["absolute_shrinks"] is False and claim["evidence"]["shrinks"] is True
    assert claim["claim"].endswith("The absolute distance ‖w − w₀‖ went 4.44 → 4.44 → 4.04 while ‖w₀‖ grew "
                                   "72 → 264 → 1,032: the relative shrinkage is ‖w₀‖'s growth, not a shorter path "
                                   "— what the lazy-training picture predicts.")


def test_findings_lead_the_markdown_and_the_page(tmp_path):
    rows = [row("sgd", 0.1, s, steps=t) for s, t in enumerate((50.0, 52.0, 51.0))]
    rows += [row("adam", 1e-3, s, steps=t) for s, t in enumerate((30.0, 31.0, 32.0))]
    board = leaderboard.compute(write_store(tmp_path, rows))
    leaderboard.write(board, tmp_path / "site")
    markdown = (tmp_path / "site" / "leaderboard.md").read_text()
    assert markdown.index("## Findings") < markdown.index("### Findings on other workloads") < markdown.index(
        "adam is best at equal budget") < markdown.index("## Headline workloads")   # w1 is no headline workload
    assert not any(f["headline"] for f in board["findings"])
    page = (tmp_path / "site" / "index.html").read_text()   # the page: the summary first, findings folded by task
    assert page.index("<h2>At a glance</h2>") < page.index("<h2>Headline workloads</h2>") < page.index(
        "<h2>Findings</h2>") < page.index("<summary>teacher_mlp: 1 finding</summary>") < page.index(
        "Adam is best at equal budget")


@pytest.mark.parametrize("reached, seeds, p", [((3, 0), (3, 3), 1 / 32), ((3, 1), (3, 3), 7 / 32),
                                               ((2, 1), (3, 3), 0.6875), ((1, 3), (3, 3), 7 / 32)])
def test_boschloos_test_compares_the_two_sides_as_groups(reached, seeds, p):
    """Hand-computed: with 3 seeds a side, the unconditional two-sided p-values are 1/32 (3 against 0),
    7/32 (3 against 1) and 0.6875 (2 against 1).  scipy takes the table's columns as the groups: given
    the sides as rows it answered 0.16 for 3 against 1, which the leaderboard published."""
    from regclip_bench.report.findings import boschloo
    assert boschloo(reached, seeds) == pytest.approx(p, abs=1e-12)


def test_a_chosen_value_at_the_edge_of_what_was_tried_is_flagged_on_any_axis(tmp_path):
    """γ chosen at the smallest of three values tried is flagged (η inside is not); δ at its largest too;
    an optimizer whose every choice lies inside says nothing."""
    rows = [row("gclip", lr, s, steps=10.0 + 10 * abs(lr - 1.0) + 100 * gamma, gamma=gamma)
            for lr in (0.1, 1.0, 10.0) for gamma in (0.01, 0.1, 1.0) for s in range(2)]
    rows += [row("delta_gclip", 1.0, s, steps=10.0 + 1 / delta, gamma=0.1, delta=delta)
             for delta in (0.001, 0.01, 0.1) for s in range(2)]
    rows += [row("sgd", lr, s, steps=10.0 + abs(lr - 1.0)) for lr in (0.1, 1.0, 10.0) for s in range(2)]
    (claim,) = found(tmp_path, rows, "range_edge")
    assert claim["evidence"] == {
        "gclip": {"gamma": {"chosen": 0.01, "side": "smallest", "tried": 3, "low": 0.01, "high": 1.0, "limit": None}},
        "delta_gclip": {"delta": {"chosen": 0.1, "side": "largest", "tried": 3, "low": 0.001, "high": 0.1,
                                  "limit": None}}}
    assert "gclip γ = 0.01 (the smallest of 3 tried, 0.01–1)" in claim["claim"]
    assert "delta_gclip δ = 0.1 (the largest of 3 tried, 0.001–0.1)" in claim["claim"] and "sgd" not in claim["claim"]


def test_an_edge_where_the_method_becomes_another_entry_says_so(tmp_path):
    rows = [row("delta_gclip", 1.0, s, steps=10.0 + 1000 * delta, gamma=0.1, delta=delta)
            for delta in (0.001, 0.01, 0.1) for s in range(2)]
    (claim,) = found(tmp_path, rows, "range_edge")
    assert claim["evidence"]["delta_gclip"]["delta"]["side"] == "smallest"
    assert "δ = 0.001 (the smallest of 3 tried, 0.001–0.1; δ → 0 is GClip, ranked on its own)" in claim["claim"]


def test_an_edge_at_a_limit_ranked_on_its_own_gives_both_ranks(tmp_path):
    """δ chosen at its smallest, with GClip (δ = 0) on the same workload: the line sets their ranks side by side."""
    rows = [row("delta_gclip", 1.0, s, steps=10.0 + 1000 * delta, gamma=0.1, delta=delta)
            for delta in (0.001, 0.01, 0.1) for s in range(2)]
    rows += [row("gclip", 1.0, s, steps=5.0, gamma=gamma) for gamma in (0.1, 0.2) for s in range(2)]
    (claim,) = found(tmp_path, rows, "range_edge")
    assert "δ → 0 is GClip, ranked on its own (rank 1; delta_gclip: rank 2))" in claim["claim"], claim["claim"]
