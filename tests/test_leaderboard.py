"""Every number of the leaderboard, recomputed from the store's Parquet tables."""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from regclip_bench.report import leaderboard, protocol
from regclip_bench.report.page import beside
from regclip_bench.config import resolve_trial
from regclip_bench.identity import trial_identity
from regclip_bench.results import load, write_submission
from regclip_bench.spec import load_task
from regclip_bench.spec import task_names


def test_every_number_matches_the_store(store, tmp_path):
    board = leaderboard.compute(str(store))
    trials = load(str(store), "trials")
    ran = [e for e in board["entries"] if e["status"] == "ran"]
    assert {(e["workload"].split("width=")[1], e["optimizer"]) for e in ran} == {
        ("8]", "delta_gclip"), ("16]", "delta_gclip"), ("8]", "sgd")}
    assert {e["task"] for e in board["entries"] if e["status"] == "not yet run"} == set(task_names()) - {"teacher_mlp"}
    for entry in ran:
        mine = trials[(trials.optimizer == entry["optimizer"]) & (trials.workload == entry["workload"])]
        # teacher_mlp scores time to target: fewest median steps, ties by the capped mean final loss
        capped = np.fmin(mine.final_loss.where(mine.status == "completed", mine.initial_loss), mine.initial_loss)
        per = mine.assign(c=capped).groupby("lr").agg(steps=("steps_to_target", "median"), c=("c", "mean"))
        best_lr = per.sort_values(["steps", "c"]).index[0]
        assert entry["configuration"]["lr"] == best_lr
        chosen = mine.assign(c=capped)[mine.lr == best_lr]
        assert entry["seeds"] == {"tune": [0, 1, 2], "report": [], "reported_on": 3} and entry["diverged"] == int((chosen.status == "diverged").sum())
        assert entry["metric_mean"] == pytest.approx(chosen.c.mean(), rel=1e-12)
        half = stats.t.ppf(0.975, 2) * chosen.c.std(ddof=1) / math.sqrt(3)
        assert entry["metric_ci95"] == pytest.approx(half, rel=1e-12)
        assert entry["steps_to_target_median"] == np.median(chosen.steps_to_target)
        assert entry["budget"]["trials"] == len(mine) and entry["budget"]["configurations"] == mine.lr.nunique()
        assert entry["provenance"]["sweep_ids"] == ["teacher_mlp-b"]
    sgd = next(e for e in ran if e["optimizer"] == "sgd")
    assert sgd["steps_to_target_median"] == math.inf            # a miss is infinite
    assert board["profile"]["scores"] == {}                      # no headline workload ran
    found = protocol.studies(protocol.distinct_trials(trials))
    profile = leaderboard.performance_profile(found)               # over these workloads instead
    # width 16: δ-GClip reaches the target (median over seeds); width 8: the median seed of neither does
    assert profile["scores"] == {"delta_gclip": 0.5, "sgd": 0.0}    # ... and a miss is a failure
    assert profile["rank"] == {"delta_gclip": 1, "sgd": 2}
    paths = leaderboard.write(board, tmp_path)
    saved = strict_json((tmp_path / "leaderboard.json").read_text())
    assert saved["schema"] == 3 and saved["entries"][-1]["task"] == "teacher_mlp"
    assert next(e for e in saved["entries"] if e.get("optimizer") == "sgd")["steps_to_target_median"] is None
    assert "Not yet run: " in (tmp_path / "leaderboard.md").read_text()
    assert '<table id="board" class="sortable">' in (tmp_path / "index.html").read_text() and len(paths) == 3


def strict_json(text: str):
    """JSON as RFC 8259 has it, as JavaScript's JSON.parse reads it: no NaN, Infinity or -Infinity."""
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def test_the_published_leaderboard_is_strict_json():
    """results/leaderboard.json reads in any JSON reader: a miss's time is null, not Python's Infinity."""
    board = strict_json((Path(__file__).resolve().parent.parent / "results" / "leaderboard.json").read_text())
    assert any(e.get("time_to_target_median", 0) is None for e in board["entries"])


def test_profile_integral_by_hand():
    scores = leaderboard.profile_scores({"t1": {"a": 1.0, "b": 2.0}, "t2": {"a": math.inf, "b": 1.0}})
    assert scores["a"] == pytest.approx(0.5)                     # ρ = 1/2 for every τ
    assert scores["b"] == pytest.approx((0.5 * 1 + 1.0 * 2) / 3, abs=0.01)   # ρ = 1/2 until τ = 2, then 1


def test_mean_ci_is_the_student_t_interval():
    mean, half = leaderboard.mean_ci([1.0, 2.0, 4.0])
    assert mean == pytest.approx(7 / 3)
    assert half == pytest.approx(stats.t.ppf(0.975, 2) * np.std([1, 2, 4], ddof=1) / math.sqrt(3))
    assert math.isnan(leaderboard.mean_ci([3.0])[1])


def _submission(store, tmp_path, mutate=None, version=b"2"):
    """Three of the store's trials as another lab's results file (written by write_submission: keys and
    trial ids right), then `mutate`d and written with schema `version` as a hand-made file would be."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    trials = load(str(store), "trials")
    rows = trials[trials.optimizer == "delta_gclip"].head(3).copy()
    rows = rows.assign(sweep_id="external-lab-1", optimizer="external_optimizer", git_commit="external")
    path = write_submission(rows.drop(columns=["result_source"]), tmp_path / "submission.parquet")
    if mutate or version != b"2":
        rows = pq.read_table(path).to_pandas()
        rows = mutate(rows) if mutate else rows
        pq.write_table(pa.Table.from_pandas(rows, preserve_index=False).replace_schema_metadata(
            {b"regclip_bench.schema_version": version}), path)
    return path


def _cli(*args):
    import subprocess
    import sys
    from pathlib import Path
    return subprocess.run([sys.executable, "-m", "regclip_bench.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parent.parent)


@pytest.mark.parametrize("mutate, version, message", [
    (lambda r: r.drop(columns=["final_loss"]), b"2", "missing required column(s): final_loss"),
    (lambda r: r.assign(status="great"), b"2", "status 'great' is not one of"),
    (lambda r: r.assign(final_loss=-1.0), b"2", "final_loss -1.0 must be >= 0"),
    (lambda r: r.assign(steps_to_target=0.5), b"2", "steps_to_target 0.5"),
    (lambda r: pd.concat([r, r]), b"2", "appears twice"),
    (lambda r: r.assign(trial_id="same"), b"2", "trial_id 'same' is not the key of its configuration and seed"),
    (lambda r: r.assign(lr=r["lr"] * 2), b"2", "lr"),
    (lambda r: r.assign(initial_loss=-math.inf), b"2", "initial_loss -inf must be finite"),
    (lambda r: r.assign(task="imagenet"), b"2", "unknown task 'imagenet'"),
    (lambda r: r.assign(seed="zero"), b"2", "column seed is"),
    (lambda r: r.assign(colour="red"), b"2", "unknown column(s): colour"),
    (lambda r: r.assign(sweep_id="teacher_mlp-b"), b"2", "already in the store"),
    (None, b"0", "schema version 0"),
    (None, b"one", "schema version 'one' is not a number"),
    # path traversal and overwriting: identifiers are names, never paths
    (lambda r: r.assign(sweep_id="../../../x"), b"2", "sweep_id '../../../x': not a valid name"),
    (lambda r: r.assign(sweep_id="../task=teacher_mlp/teacher_mlp-b"), b"2", "not a valid name"),
    (lambda r: r.assign(sweep_id="/tmp/abs"), b"2", "sweep_id '/tmp/abs': not a valid name"),
    (lambda r: r.assign(trial_id="a/b"), b"2", "trial_id 'a/b': not a valid name"),
    # injection into the pages
    (lambda r: r.assign(optimizer="<script>alert(1)</script>"), b"2", "optimizer '<script>"),
    (lambda r: r.assign(optimizer="x | y\n| z"), b"2", "not a valid name"),
    # implausible values
    (lambda r: r.assign(seconds_to_target=0.0), b"2", "seconds_to_target 0.0 must be > 0"),
    (lambda r: r.assign(steps_done=-1), b"2", "steps_done -1 must be >= 0"),
    (lambda r: r.assign(total_steps=-5), b"2", "total_steps -5 must be >= 1"),
    (lambda r: r.assign(steps_done=10**6), b"2", "is more than total_steps"),
    (lambda r: r.assign(train_time_s=float("inf")), b"2", "train_time_s inf must be finite"),
    (lambda r: r.assign(lr=-1.0, config_json=None), b"2", "invalid lr=-1.0"),
    (lambda r: r.assign(width=-3, config_json=None), b"2", "width -3 must be >= 0"),
    (lambda r: r.assign(delta=7.0, config_json=None), b"2", "invalid delta=7.0"),
    # the configuration the pages show (config_json) is the one checked
    (lambda r: r.assign(lr=5.0), b"2", "lr 5.0 disagrees with config_json's lr 0.5"),
    (lambda r: r.assign(config_json=r.config_json.map(lambda c: json.dumps(json.loads(c) | {"eps": -1.0}))), b"2",
     "invalid eps=-1.0"),
    (lambda r: r.assign(final_test_accuracy=1.5), b"2", "final_test_accuracy 1.5 must be in [0, 1]"),
    (lambda r: r.assign(steps_to_target=10.0**9, seconds_to_target=1.0), b"2", "is more than total_steps"),
])
def test_rejected_submission_is_named_and_changes_nothing(store, tmp_path, mutate, version, message):
    from regclip_bench.results import ResultsError
    from regclip_bench.results.submission import add_submission
    files = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    with pytest.raises(ResultsError, match=re.escape(message)):
        add_submission(str(store), _submission(store, tmp_path, mutate, version))
    assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == files


def test_an_oversize_file_is_refused_before_its_rows_are_read(store, tmp_path):
    from regclip_bench.results import ResultsError
    from regclip_bench.results.submission import add_submission
    path = _submission(store, tmp_path)
    files = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    with pytest.raises(ResultsError, match="3 rows, more than the limit of 2"):
        add_submission(str(store), path, max_rows=2)
    assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == files
    done = _cli("leaderboard", str(store), "--out", str(tmp_path / "b"), "--add", str(path), "--max-rows", "2")
    assert done.returncode == 2 and "raise it with --max-rows" in done.stderr


def test_the_leaderboard_never_raises_on_what_a_store_can_hold(tmp_path):
    """Rows no submission could add (written straight into the store): every page is still made."""
    import shutil
    from stores import trial_row, write_store
    edge = [0.0, -1.0, math.inf, -math.inf, math.nan, 1e308]
    rows = []
    for i, value in enumerate(edge * 2):
        row = trial_row("sgd" if i % 2 else "external_optimizer", [1e-3, 0.1, 10.0][i % 3], i, value, initial=edge[-i % 6],
                        status=["completed", "diverged", "bogus", "no_progress"][i % 4], steps=value)
        row.update(seconds_to_target=value, train_time_s=value, width=None if i == 3 else row["width"],
                   config_json="not json" if i == 4 else row["config_json"], workload_json=None if i == 5 else "{}",
                   device=None, cpu_model=None)
        rows.append(row)
    store = write_store(tmp_path / "store", rows)
    board = leaderboard.compute(store)
    assert {e.get("optimizer") for e in board["entries"]} >= {"sgd", "external_optimizer"}
    leaderboard.write(board, tmp_path / "site")
    from regclip_bench.report import build_report
    build_report(store, tmp_path / "site" / "reports")
    assert (tmp_path / "site" / "reports" / "teacher_mlp" / "report.html").exists()
    shutil.rmtree(tmp_path / "site")
    from regclip_bench.cli import main
    assert main(["query", store]) == 0                                   # and the command-line summary


def test_a_linear_task_submission_without_hidden_layers_is_accepted(tmp_path):
    """The least-squares tasks' model has width and depth 0: a submission of them is not refused for it."""
    from regclip_bench.results.submission import add_submission
    published = str(Path(__file__).resolve().parent.parent / "results" / "store")
    rows = load(published, "trials", {"task": "lsq_gaussian", "optimizer": "sgd"}).head(3)
    rows = rows.assign(sweep_id="external-lsq", optimizer="external_optimizer", git_commit="external")
    assert (rows["width"] == 0).all() and (rows["depth"] == 0).all()
    path = write_submission(rows.drop(columns=["result_source"]), tmp_path / "lsq.parquet")
    assert add_submission(str(tmp_path / "store"), path) == 3
    added = load(str(tmp_path / "store"), "trials")
    assert list(added["config_key"]) != list(rows["config_key"])   # keys computed here (its optimizer is not a built-in)
    assert set(added["workload_key"]) == set(rows["workload_key"])
    assert set(added["result_source"]) == {"submitted"}


def test_a_results_file_written_with_pandas_is_one_call_away(tmp_path):
    """write_submission turns a plain DataFrame into what --add takes: configuration completed with the
    optimizer's defaults, trial ids from configuration and seed, schema version in the metadata."""
    import pandas as pd
    from regclip_bench.results.submission import add_submission
    frame = pd.DataFrame([{"sweep_id": "lab-a", "task": "teacher_mlp", "optimizer": "adamw", "width": 1024,
                           "depth": 2, "lr": 1e-3, "seed": s, "steps": 300, "batch_size": "full",
                           "status": "completed", "final_loss": 0.01 + s, "initial_loss": 0.5,
                           "steps_to_target": math.inf, "seconds_to_target": math.inf, "train_time_s": 3.0,
                           "git_commit": "abc", "torch_version": "2.13.0"} for s in range(3)])
    path = write_submission(frame, tmp_path / "mine.parquet")
    assert add_submission(str(tmp_path / "store"), path) == 3
    added = load(str(tmp_path / "store"), "trials")
    assert json.loads(added["config_json"][0])["weight_decay"] == 0.01 and added["beta2"][0] == 0.999
    ours = resolve_trial(load_task("teacher_mlp"), {"optimizer": "adamw", "lr": 1e-3, "seed": 1})
    assert set(added["config_key"]) == {trial_identity(ours)["config_key"]}   # the suite's own key
    assert trial_identity(ours)["trial_key"] in set(added["trial_id"])


def test_cli_rejection_exits_2_and_leaves_the_leaderboard_unchanged(store, tmp_path):
    out = tmp_path / "board"
    assert _cli("leaderboard", str(store), "--out", str(out)).returncode == 0
    before = (out / "leaderboard.json").read_text()
    bad = _submission(store, tmp_path, lambda r: r.assign(status="great"))
    done = _cli("leaderboard", str(store), "--out", str(out), "--add", str(bad))
    assert done.returncode == 2 and "status 'great'" in done.stderr
    assert (out / "leaderboard.json").read_text() == before


def test_accepted_submission_keeps_its_provenance(store, tmp_path):
    import shutil
    mine = tmp_path / "store"
    shutil.copytree(store, mine)
    out = tmp_path / "board"
    done = _cli("leaderboard", str(mine), "--out", str(out), "--add", str(_submission(store, tmp_path)))
    assert done.returncode == 0 and "added 3 trials" in done.stdout, done.stderr
    board = json.loads((out / "leaderboard.json").read_text())
    assert "external_optimizer" not in {e.get("optimizer") for e in board["entries"]}   # apart, never ranked with ours
    theirs = next(e for e in board["submitted"] if e.get("optimizer") == "external_optimizer")
    assert theirs["run_by"] == "submitter" and {e["run_by"] for e in board["entries"] if "run_by" in e} == {"suite"}
    assert theirs["provenance"]["sweep_ids"] == ["external-lab-1"]
    assert theirs["provenance"]["git_commits"] == ["external"]
    page = (out / "index.html").read_text()
    assert page.index("Submitted results (not run by the suite)") > page.index("Headline workloads")


def test_a_submitted_row_never_shadows_a_trial_the_suite_ran(store, tmp_path):
    """A results file claiming the suite's own trial ids under a sweep id that sorts first changes no entry."""
    import shutil
    from regclip_bench.results.submission import add_submission
    mine = tmp_path / "store"
    shutil.copytree(store, mine)
    before = leaderboard.compute(str(mine))
    rows = load(str(mine), "trials").head(6).assign(sweep_id="000-first", final_loss=0.0, steps_to_target=1.0,
                                                     seconds_to_target=1e-3)
    add_submission(str(mine), write_submission(rows.drop(columns=["result_source"]), tmp_path / "shadow.parquet"))
    after = leaderboard.compute(str(mine))
    assert after["entries"] == before["entries"] and after["findings"] == before["findings"]
    assert len(after["submitted"]) >= 1


def test_the_published_pages_are_what_the_committed_store_gives(tmp_path):
    """Every number of results/ (leaderboard.json, .md, index.html, findings included) is recomputed from
    results/store by this version of the code; of the reports, one task's tables (all of them take ≈ 10
    minutes to draw)."""
    from regclip_bench.report import build_report
    root = Path(__file__).resolve().parent.parent / "results"
    out = tmp_path / "site"
    out.mkdir()
    (out / "reports").symlink_to(root / "reports")
    leaderboard.write(leaderboard.compute(str(root / "store")), out, reports="reports")
    for name in ("leaderboard.json", "leaderboard.md", "index.html"):
        assert (out / name).read_text() == (root / name).read_text(), name
    drawn = build_report(str(root / "store"), tmp_path / "reports", "lsq_gaussian")[0].parent
    for name in ("report.md", "report.json"):
        assert (drawn / name).read_text() == (root / "reports" / "lsq_gaussian" / name).read_text(), name


def test_the_published_leaderboard_does_not_depend_on_the_cpus_vector_units(tmp_path):
    """The same store gives the same bytes with OpenBLAS's generic x86 kernel (OPENBLAS_CORETYPE) and
    numpy's AVX-512 loops turned off, as on a CPU without them (a no-op where those do not apply)."""
    root = Path(__file__).resolve().parent.parent / "results"
    script = ("import sys; from pathlib import Path; from regclip_bench.report import leaderboard; "
              "leaderboard.write(leaderboard.compute(sys.argv[1]), Path(sys.argv[2]), reports='reports')")
    env = {**os.environ, "OPENBLAS_CORETYPE": "Prescott",
           "NPY_DISABLE_CPU_FEATURES": "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"}
    done = subprocess.run([sys.executable, "-c", script, str(root / "store"), str(tmp_path)], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "leaderboard.json").read_text() == (root / "leaderboard.json").read_text()


def test_the_main_jobs_entries_stand_beside_the_published_ones(store, tmp_path):
    """`regclip-bench run teacher_mlp` sets its entries beside results/leaderboard.json's: its quick grid
    includes the published headline workload (the same key), and the page lists yours and theirs."""
    from regclip_bench.report.protocol import headline_keys
    from regclip_bench.spec import load_task
    from regclip_bench.sweep.grid import plan_quick
    published = leaderboard.published_board()
    assert published is not None and published["schema"] == leaderboard.LEADERBOARD_SCHEMA
    quick = {trial_identity(t.config)["workload_key"] for t in plan_quick(load_task("teacher_mlp"))}
    assert headline_keys("teacher_mlp")[0] in quick
    assert headline_keys("teacher_mlp")[0] in {e.get("workload_key") for e in published["entries"]}

    board = leaderboard.compute(str(store))
    leaderboard.write(board, tmp_path / "theirs")                    # as published: misses are null there
    theirs = strict_json((tmp_path / "theirs" / "leaderboard.json").read_text())
    ran = [e for e in theirs["entries"] if e["status"] == "ran"]
    leaderboard.write(board, tmp_path / "site", published=theirs)
    page = (tmp_path / "site" / "index.html").read_text()
    table = page.split('<table id="beside">', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 1 + len(ran) and f"rank {ran[0]['rank']} of" in table
    rows = beside(board, theirs)   # the words for a miss are the same read back from the file as in memory
    assert rows and all(row["published"].split("; rank")[0] == row["yours"] for row in rows)
    leaderboard.write(board, tmp_path / "alone")                     # nothing to set beside: no section
    assert 'id="beside"' not in (tmp_path / "alone" / "index.html").read_text()


def _held_entry(optimizer, time, metric, direction="min", score="time_to_target", reached=10):
    return {"optimizer": optimizer, "ranked_by": "held-out seeds", "time_to_target_median": time,
            "p_reach": reached / 10, "metric_mean": metric, "seeds": {"tune": [0, 1, 2], "report": list(range(10)),
                                                                   "reported_on": 10},
            "selection": {"time_measure": "steps_to_target", "metric": "final_loss", "direction": direction,
                          "score": score}}


def test_the_summary_figures_scores_are_the_best_over_each_by_hand():
    from regclip_bench.report.page import decisive, normalised
    timed = [_held_entry("a", 10.0, 0.1), _held_entry("b", 40.0, 0.1), _held_entry("c", math.inf, 0.5, reached=3)]
    assert normalised(timed) == {"a": 1.0, "b": 0.25, "c": 0.0}
    assert decisive(timed[2])[2] == "missed the target (3/10 seeds reached); final training loss 0.5"
    final = [_held_entry("a", math.inf, 0.02, score="final_metric"), _held_entry("b", math.inf, 0.08, score="final_metric")]
    assert normalised(final) == pytest.approx({"a": 1.0, "b": 0.25}, rel=1e-5)   # + 1e-7 on both sides
    assert normalised([_held_entry("a", math.inf, 1e-14, score="final_metric"),
                       _held_entry("b", math.inf, 1e-10, score="final_metric")])["b"] == pytest.approx(1.0, rel=1e-3)
    accuracy = [_held_entry("a", math.inf, 0.9, "max", "final_metric"), _held_entry("b", math.inf, 0.45, "max", "final_metric")]
    assert normalised(accuracy) == pytest.approx({"a": 1.0, "b": 0.5})


def test_the_profiles_held_out_bootstrap_resamples_the_seeds_medians():
    rng = np.random.default_rng(0)
    study = protocol.Study("w", "w", protocol.Scoring("final_loss", "initial_loss", "min", "time_to_target"),
                           "steps_to_target", "cpu", 1, [], pd.DataFrame())
    runs = pd.DataFrame({"steps_to_target": [10.0, 20.0, 30.0]})
    study.entries = [protocol.Entry("a", pd.DataFrame(), pd.Series(dtype=float), runs, {}, {}, 1, pd.DataFrame(),
                                    None, None)]
    medians = protocol.bootstrap_reported_times(study, rng, 2000)["a"]
    assert set(np.unique(medians)) <= {10.0, 20.0, 30.0}
    # the median of 3 draws from {10, 20, 30} is 20 with probability 1 − 2·(7/27) = 13/27, by hand
    assert (medians == 20.0).mean() == pytest.approx(13 / 27, abs=0.03)


def test_every_published_headline_entry_of_the_cpu_tasks_follows_the_protocol():
    """results/: on the headline workloads of the five CPU tasks, and on the paper's VAE at 10 epochs (the
    plug-ins too, by `submit --set epochs=10`), every optimizer had N = 16 configurations on tuning seeds 0-2 and is reported on 10 held-out seeds; the rank is
    on those."""
    from regclip_bench.cli import CPU_TASKS
    board = json.loads((Path(__file__).resolve().parent.parent / "results" / "leaderboard.json").read_text())
    mine = [e for e in board["entries"] if e["status"] == "ran" and e["headline"] and e["task"] in CPU_TASKS]
    assert {e["task"] for e in mine} == set(CPU_TASKS)
    assert "teacher_mlp[depth=4]" in {e["workload"] for e in mine}
    vae = [e for e in board["entries"] if e["status"] == "ran" and e["workload"] == "fashion_mnist_vae[epochs=10]"]
    assert len(vae) == 10                                  # every family of the suite and the two plug-ins
    assert {e["optimizer"] for e in vae} >= {"lion", "schedulefree_adamw"}
    for entry in mine + vae:
        assert entry["protocol"] == "budget" and entry["ranked_by"] == "held-out seeds", entry["workload"]
        assert entry["budget"]["configurations"] == 16 and entry["seeds"]["tune"] == [0, 1, 2]
        assert entry["seeds"]["report"] == list(range(10_000, 10_010)) and entry["seeds"]["reported_on"] == 10


def test_every_published_workload_is_judged_by_one_no_progress_rule():
    """results/store: no workload mixes the two no_progress rules — the training loss on the fixed training
    sample (final_train_loss) and the last minibatch's (the first grid sweeps of digits_mlp and teacher_mlp,
    which lacked final_train_loss beside later sweeps of the same workloads, were run again and replaced);
    the 200-epoch VAE, run once before final_train_loss existed, is judged by the last minibatch throughout."""
    from regclip_bench.results import load
    trials = load(str(Path(__file__).resolve().parent.parent / "results" / "store"), "trials")
    judged = trials[trials["status"] != "diverged"].assign(sampled=lambda t: t["final_train_loss"].notna())
    rules = judged.groupby("workload")["sampled"].nunique()
    assert sorted(rules[rules > 1].index) == []
    assert sorted(judged.loc[~judged["sampled"], "workload"].unique()) == ["fashion_mnist_vae"]
    budgeted = judged[judged["sweep_id"].str.startswith(("v3-", "submit-"))]
    assert budgeted["sampled"].all()


def test_results_readme_counts_what_the_store_holds():
    import re

    from regclip_bench.results import load
    root = Path(__file__).resolve().parent.parent / "results"
    said = re.search(r"the store holds ([\d,]+) trials from (\d+) sweeps", (root / "README.md").read_text())
    trials, sweeps = load(str(root / "store"), "trials"), load(str(root / "store"), "sweeps")
    assert (int(said.group(1).replace(",", "")), int(said.group(2))) == (trials["trial_id"].nunique(), len(sweeps))


def test_no_published_headline_choice_sits_at_a_range_edge_but_at_a_limit_ranked_on_its_own():
    """results/: on every headline workload each chosen hyperparameter lies strictly inside what was drawn,
    except where the edge is a limit at which the method is another entry of the board (docs/protocol.md,
    range_edge) — and the finding then says so."""
    board = json.loads((Path(__file__).resolve().parent.parent / "results" / "leaderboard.json").read_text())
    edges = [(f["workload"], optimizer, key, edge) for f in board["findings"]
             if f["kind"] == "range_edge" and f["headline"] for optimizer, keys in f["evidence"].items()
             for key, edge in keys.items()]
    assert edges and all(edge["limit"] and "ranked on its own" in edge["limit"] for *_, edge in edges), edges
    assert {(w, o, k) for w, o, k, _ in edges} == {("teacher_mlp", "adamw", "weight_decay"),
                                                  ("lsq_gaussian", "adamw", "weight_decay")}
