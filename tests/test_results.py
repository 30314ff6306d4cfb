"""The results store: round trip, idempotency, concurrency, merging, bad files, schema versions, readers."""

import json
import math
import multiprocessing
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from regclip_bench.config import resolve_trial
from regclip_bench.results import ResultsError, aggregate, load
from regclip_bench.results.schema import SCHEMAS, VERSION_KEY
from regclip_bench.spec import load_task
from regclip_bench.trial import run_trial
from stores import RUNS, make_sweep
from regclip_bench.trial_io import trial_table

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweeps") / "teacher_mlp"
    return folder, make_sweep(folder, "teacher_mlp-aaaa", RUNS)


def same(a, b):
    if isinstance(b, float) and math.isnan(b):
        return a is None or (isinstance(a, float) and math.isnan(a))
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None
    return a == b


def test_every_column_round_trips(sweep, tmp_path):
    folder, results = sweep
    done = aggregate(str(folder), str(tmp_path))
    assert done.trials == 3 and done.task == "teacher_mlp"
    steps = load(str(tmp_path), "steps")
    assert len(steps) == sum(len(r["steps"]) for r in results.values())
    for key, result in results.items():
        rows = steps[steps.trial_id == key].sort_values("step").to_dict("records")
        for row, original in zip(rows, result["steps"], strict=True):
            assert row["sweep_id"] == "teacher_mlp-aaaa" and row["task"] == "teacher_mlp"
            for column in SCHEMAS["steps"].names[2:]:
                assert same(row[column], original.get(column)), (column, row[column], original.get(column))
    evals = load(str(tmp_path), "evals")
    for key, result in results.items():
        rows = evals[evals.trial_id == key].sort_values("step").to_dict("records")
        for row, original in zip(rows, result["evals"], strict=True):
            for column in SCHEMAS["evals"].names[2:]:
                assert same(row[column], original.get(column)), column
    trials = load(str(tmp_path), "trials").set_index("trial_id")
    for key, result in results.items():
        row = trials.loc[key]
        assert row["config_hash"] == key and json.loads(row["config_json"]) == result["config"]
        for column in ("optimizer", "width", "depth", "lr", "gamma", "delta", "seed", "steps"):
            assert same(row[column], result["config"].get(column)), column
        for column in ("status", "final_loss", "best_loss", "loss_rate", "min_pl_ratio", "steps_to_target",
                       "frac_clipped", "param_count", "steps_done", "device", "git_commit", "hostname"):
            assert same(row[column], result.get(column)), column
    assert set(trials["status"]) == {"completed", "diverged"}
    assert trials.loc[[k for k, r in results.items() if r["status"] == "diverged"][0], "steps_to_target"] == math.inf
    sweeps = load(str(tmp_path), "sweeps")
    assert sweeps.to_dict("records")[0]["n_trials"] == 3 and sweeps["modes"][0] == "grid"


def test_aggregating_twice_adds_no_rows(sweep, tmp_path):
    folder, _ = sweep
    aggregate(str(folder), str(tmp_path))
    before = {t: len(load(str(tmp_path), t)) for t in SCHEMAS}
    files = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    aggregate(str(folder), str(tmp_path))
    assert {t: len(load(str(tmp_path), t)) for t in SCHEMAS} == before
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()) == files


def test_sweeps_from_two_machines_merge(sweep, tmp_path):
    folder, results = sweep
    other = tmp_path / "machine-b" / "teacher_mlp"          # same name, same configs, another run
    shutil.copytree(folder, other)
    manifest = json.loads((other / "sweep.json").read_text())
    (other / "sweep.json").write_text(json.dumps({**manifest, "sweep_id": "teacher_mlp-bbbb"}))
    store = tmp_path / "store"
    aggregate(str(folder), str(store))
    aggregate(str(other), str(store))
    trials = load(str(store), "trials")
    assert len(trials) == 6 and sorted(trials.sweep_id.unique()) == ["teacher_mlp-aaaa", "teacher_mlp-bbbb"]
    assert len(load(str(store), "trials", {"sweep_id": "teacher_mlp-bbbb", "optimizer": ["adam", "sgd"]})) == 2


def _aggregate_in_process(args):
    aggregate(*args)


def test_concurrent_aggregations_lose_nothing(sweep, tmp_path):
    folder, _ = sweep
    copies = []
    for i in range(3):
        copy = tmp_path / f"m{i}" / "teacher_mlp"
        shutil.copytree(folder, copy)
        manifest = json.loads((copy / "sweep.json").read_text())
        (copy / "sweep.json").write_text(json.dumps({**manifest, "sweep_id": f"teacher_mlp-{i}"}))
        copies.append(copy)
    store = tmp_path / "store"
    jobs = [(str(c), str(store)) for c in copies] * 2          # each sweep twice, all at once
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map_async(_aggregate_in_process, jobs).get(timeout=600)   # a worker that dies fails, not hangs
    trials = load(str(store), "trials")
    assert len(trials) == 9 and trials.groupby("sweep_id").size().tolist() == [3, 3, 3]
    assert not [p for p in store.rglob(".*") if p.is_file()]   # no temporary left behind


def test_corrupt_trial_file_is_named_and_nothing_is_written(sweep, tmp_path):
    folder, _ = sweep
    broken = tmp_path / "teacher_mlp"
    shutil.copytree(folder, broken)
    (broken / "trials" / "zzzz.parquet").write_bytes(b"PAR1 not really")
    store = tmp_path / "store"
    with pytest.raises(ResultsError, match=r"zzzz\.parquet: not a readable Parquet file"):
        aggregate(str(broken), str(store))
    assert not store.exists()
    (broken / "trials" / "zzzz.parquet").unlink()
    pq.write_table(pa.table({"x": [1]}), broken / "trials" / "foreign.parquet")
    with pytest.raises(ResultsError, match=r"foreign\.parquet: not a regclip-bench trial file"):
        aggregate(str(broken), str(store))
    with pytest.raises(ResultsError, match="not a sweep"):
        aggregate(str(tmp_path / "nowhere"), str(store))


def test_foreign_file_in_the_store_is_named_and_temporaries_are_ignored(sweep, tmp_path):
    folder, _ = sweep
    aggregate(str(folder), str(tmp_path))
    partition = tmp_path / "trials" / "task=teacher_mlp"
    (partition / ".teacher_mlp-x.parquet.123.tmp").write_bytes(b"half written")   # a killed write
    assert len(load(str(tmp_path), "trials")) == 3
    pq.write_table(pa.table({"x": [1]}), partition / "stray.parquet")
    with pytest.raises(ResultsError, match=r"stray\.parquet: not written by regclip-bench"):
        load(str(tmp_path), "trials")


def test_other_schema_versions_are_refused_with_their_version(sweep, tmp_path):
    folder, _ = sweep
    aggregate(str(folder), str(tmp_path))
    path = next((tmp_path / "steps" / "task=teacher_mlp").glob("*.parquet"))
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({VERSION_KEY: "0"}), path)
    with pytest.raises(ResultsError, match=r"schema version 0 in a store of version 2"):
        load(str(tmp_path), "steps")
    (tmp_path / "_schema.json").write_text(json.dumps({"schema_version": 3}))
    with pytest.raises(ResultsError, match="a store of schema version 3; this regclip-bench reads version 2 — "
                                           "a newer regclip-bench wrote it"):
        load(str(tmp_path), "trials")
    with pytest.raises(ResultsError, match="schema version 3; this regclip-bench writes version 2"):
        aggregate(str(folder), str(tmp_path))


V1_STORE = ROOT / "tests" / "data" / "store_v1"   # written by regclip-bench at schema version 1


def test_a_version_1_store_is_migrated_once_and_never_read_as_it_is(sweep, tmp_path):
    """One store version: a version-1 store is refused by every reader in one line naming the command that
    writes it as version 2; `regclip-bench migrate` does, computing the keys version 1 did not record."""
    from regclip_bench.cli import main
    from regclip_bench.results.schema import SCHEMAS
    with pytest.raises(ResultsError, match=r"a store of schema version 1; this regclip-bench reads version 2 — "
                                           r"write it as version 2 once: regclip-bench migrate .*store_v1 --into NEW_STORE"):
        load(str(V1_STORE), "trials")
    shutil.copytree(V1_STORE, tmp_path / "old")
    with pytest.raises(ResultsError, match="a store of schema version 1; this regclip-bench writes version 2"):
        aggregate(str(sweep[0]), str(tmp_path / "old"))        # never written to either
    before = {p: p.read_bytes() for p in (tmp_path / "old").rglob("*") if p.is_file()}
    assert main(["migrate", str(tmp_path / "old"), "--into", str(tmp_path / "new")]) == 0
    assert {p: p.read_bytes() for p in (tmp_path / "old").rglob("*") if p.is_file()} == before   # only read
    new = str(tmp_path / "new")
    trials = load(new, "trials")
    assert list(trials.columns[:len(SCHEMAS["trials"])]) == SCHEMAS["trials"].names and len(trials) == 8
    assert trials["initial_loss"].isna().all()                      # not recorded at version 1
    sgd = trials[trials.optimizer == "sgd"]
    assert sgd.groupby("width").workload_key.nunique().tolist() == [1, 1]    # a workload per width
    assert sgd.workload_key.nunique() == 2 and set(sgd.workload) == {
        "teacher_mlp[depth=1,steps=20,width=8]", "teacher_mlp[depth=1,steps=20,width=16]"}
    clipped = trials[trials.optimizer == "delta_gclip"]
    assert clipped.workload_key.nunique() == 1 and clipped.config_key.nunique() == 2   # two learning rates
    assert len(load(new, "trials", {"workload": "teacher_mlp[depth=1,steps=20,width=16]"})) == 2
    assert len(load(new, "steps")) == 40 and load(new, "steps")["rel_dist_from_init"].isna().all()
    aggregate(str(sweep[0]), new)                               # a version-2 store like any other
    assert len(load(new, "trials")) == 8 + 3
    assert main(["migrate", str(tmp_path / "old"), "--into", new]) == 2       # into a store: refused
    assert main(["migrate", new, "--into", str(tmp_path / "again")]) == 2     # version 2: nothing to do
    assert not (tmp_path / "again").exists()


def test_keys_computed_from_a_flat_configuration_agree_with_the_trials_own():
    from regclip_bench.identity import identity_from_flat
    config = resolve_trial(load_task("teacher_mlp"), dict(width=32, depth=3, steps=7, optimizer="sgd", lr=0.2))
    result = run_trial(config)
    computed = identity_from_flat(result["config"])
    assert {k: computed[k] for k in ("workload_key", "config_key", "workload")} == {
        k: result[k] for k in ("workload_key", "config_key", "workload")}


def test_store_is_read_by_pandas_pyarrow_and_duckdb(sweep, tmp_path):
    folder, results = sweep
    aggregate(str(folder), str(tmp_path))
    n_steps = sum(len(r["steps"]) for r in results.values())
    assert len(pd.read_parquet(tmp_path / "steps")) == n_steps
    dataset = ds.dataset(tmp_path / "trials", format="parquet", partitioning="hive")
    pruned = dataset.to_table(filter=ds.field("task") == "teacher_mlp")
    assert pruned.num_rows == 3 and dataset.to_table(filter=ds.field("task") == "other").num_rows == 0
    duckdb = pytest.importorskip("duckdb")
    [(count,)] = duckdb.sql(f"select count(*) from read_parquet('{tmp_path}/steps/*/*.parquet', "
                            "hive_partitioning=true) where task = 'teacher_mlp'").fetchall()
    assert count == n_steps
    best = duckdb.sql(f"select optimizer, min(final_loss) from read_parquet('{tmp_path}/trials/*/*.parquet', "
                      "hive_partitioning=true) group by optimizer order by optimizer").fetchall()
    assert [name for name, _ in best] == ["adam", "delta_gclip", "sgd"]


def test_cli_aggregate_and_query(sweep, tmp_path):
    folder, _ = sweep
    run = lambda *a: subprocess.run([sys.executable, "-m", "regclip_bench.cli", *a], capture_output=True,
                                    text=True, timeout=120, cwd=ROOT)
    done = run("aggregate", str(folder), "--into", str(tmp_path))
    assert done.returncode == 0 and "3 trials" in done.stdout
    done = run("query", str(tmp_path), "--optimizer", "sgd")
    assert done.returncode == 0 and "1 trials: 1 diverged " in done.stdout   # every status, counted
    done = run("query", str(tmp_path / "missing"))
    assert done.returncode == 2 and "not a regclip-bench store" in done.stderr


def test_killed_aggregation_leaves_nothing_half_visible(tmp_path):
    """SIGKILL an aggregation at several moments: the store is always readable and whole."""
    import signal
    import time as clock

    folder = tmp_path / "big"
    (folder / "trials").mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps({"schema": 1, "name": "big", "sweep_id": "big-1", "runs": []}))
    result = run_trial(resolve_trial(load_task("teacher_mlp"), dict(width=8, steps=2000, log_every=1)))
    for i in range(300):
        pq.write_table(trial_table(result), folder / "trials" / f"{i:04x}.parquet")
    store = tmp_path / "store"
    for delay in (0.5, 1.0, 1.5, 2.0, 2.5):
        process = subprocess.Popen([sys.executable, "-m", "regclip_bench.cli", "aggregate", str(folder),
                                    "--into", str(store)], cwd=ROOT)
        clock.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        visible = [p for p in store.rglob("*.parquet") if not p.name.startswith(".")]
        for path in visible:   # every visible file is complete
            assert pq.read_table(path).num_rows > 0
        if (store / "trials").exists():
            trials = load(str(store), "trials")
            assert len(trials) in (0, 300)
        if visible and (store / "steps").exists():
            assert len(load(str(store), "steps")) in (0, 300 * 2000)
    aggregate(str(folder), str(store))
    assert len(load(str(store), "trials")) == 300


def test_query_keeps_workloads_apart_and_writes_csv_and_json():
    """One row per task, workload and optimizer (the protocol never pools workloads); its best is the
    configuration the leaderboard's rule chooses (report/protocol.py), here checked against the store."""
    import io
    import json as json_
    import pandas as pd
    from regclip_bench.report.protocol import Scoring, best_configurations, configurations, split_seeds
    store = str(ROOT / "results" / "store")
    run = lambda *a: subprocess.run([sys.executable, "-m", "regclip_bench.cli", "query", store, "--task", "teacher_mlp",
                                     "--optimizer", "sgd", *a], capture_output=True, text=True, timeout=120, cwd=ROOT)
    rows = json_.loads(run("--format", "json").stdout)
    trials = load(store, "trials", {"task": "teacher_mlp", "optimizer": "sgd"})
    assert sorted(r["workload"] for r in rows) == sorted(trials["workload"].unique())
    for row in rows:
        mine = trials[trials["workload"] == row["workload"]]
        assert row["trials"] == len(mine) and row["configurations"] == mine["config_key"].nunique()
        scoring = Scoring.of(mine["workload_json"].iloc[0])
        best = best_configurations(configurations(split_seeds(mine)[0], scoring, "steps_to_target")).iloc[0]
        assert row["best_config_key"] == best["config_key"] and row["best_metric"] == pytest.approx(best["metric"])
    table = pd.read_csv(io.StringIO(run("--format", "csv").stdout))
    assert list(table["workload"]) == [r["workload"] for r in rows] and list(table["trials"]) == [r["trials"] for r in rows]
    text = run().stdout
    assert all(f"{r['trials']:4d} trials: {r['statuses']}" in text for r in rows)
