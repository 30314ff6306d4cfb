"""Sweeps on real Ray, on loopback: the local default, a two-node cluster, a killed worker,
an interrupted driver.  Each test stops only the Ray processes it started."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from regclip_bench.results import load
from regclip_bench.spec import load_task
from regclip_bench.sweep.grid import plan_grid
from regclip_bench.storage import finished_keys
from regclip_bench.trial_io import read_trial

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--grid", "width=16,32", "--grid", "depth=1", "--grid", "lr=0.1,0.3", "--optimizers", "sgd",
         "--seeds", "1", "--set", "steps=20"]
# Slow enough to be caught mid-run: ~5 s per trial on one core, a checkpoint every 50 steps.
SLOW = ["--grid", "width=1024", "--grid", "depth=2", "--optimizers", "sgd", "--seeds", "1",
        "--set", "steps=400", "--set", "eval_every=50", "--checkpoint-every", "0"]


def cli(*args, **kwargs):
    if args[0] == "sweep" and "--store" not in args:
        args = (*args, "--no-aggregate")   # never into the default store under $HOME
    return subprocess.Popen([sys.executable, "-m", "regclip_bench.cli", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)


def finish(process, timeout=300):
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out


def planned_keys(*args):
    grid, fixed, optimizers, seeds = {}, {}, None, None
    it = iter(args)
    for flag in it:
        if flag == "--checkpoint-every":
            next(it)
            continue
        value = next(it)
        if flag == "--grid":
            k, v = value.split("=")
            grid[k] = [float(x) if "." in x else int(x) for x in v.split(",")]
        elif flag == "--set":
            k, v = value.split("=")
            fixed[k] = int(v)
        elif flag == "--optimizers":
            optimizers = value.split(",")
        elif flag == "--seeds":
            seeds = int(value)
    return {t.key for t in plan_grid(load_task("teacher_mlp"), grid, fixed, optimizers, seeds)}


def test_local_default_runs_exactly_the_grid_then_extends_it(tmp_path):
    """…and its driver never imports torch: planning, Ray, Tune and aggregating need none; only the workers
    that train do (the driver's start is ≈ 2 s shorter; benchmarks/startup.py)."""
    store = tmp_path / "store"
    script = ("import sys\nfrom regclip_bench.cli import main\ncode = main(sys.argv[1:])\n"
              "print('exit', code, 'torch imported' if 'torch' in sys.modules else 'no torch')")
    code, out = finish(subprocess.Popen([sys.executable, "-c", script, "sweep", "teacher_mlp", *SMALL, "--storage",
                                         str(tmp_path), "--store", str(store)], cwd=ROOT, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    assert code == 0 and out.strip().splitlines()[-1] == "exit 0 no torch", out
    assert "sweep teacher_mlp: 4 trials" in out and "ran 4 trials: 4 completed" in out
    assert "aggregated 4 trials" in out and len(load(str(store), "trials")) == 4
    sweep = tmp_path / "teacher_mlp"
    assert finished_keys(str(sweep)) == planned_keys(*SMALL)
    first = {p.name: p.stat().st_mtime_ns for p in (sweep / "trials").iterdir()}

    bigger = [a if a != "width=16,32" else "width=16,32,48" for a in SMALL]
    code, out = finish(cli("sweep", "teacher_mlp", *bigger, "--storage", str(tmp_path), "--store", str(store)))
    assert code == 0, out
    assert "4 of 6 trials were already finished" in out and "ran 2 trials" in out
    trials = load(str(store), "trials")
    assert len(trials) == 6 and trials.trial_id.is_unique and set(trials.status) == {"completed"}
    assert finished_keys(str(sweep)) == planned_keys(*bigger)
    assert all((sweep / "trials" / name).stat().st_mtime_ns == mtime for name, mtime in first.items())
    _, summary, _ = read_trial(next((sweep / "trials").iterdir()))
    assert summary["status"] == "completed" and summary["sweep"] == "teacher_mlp"

    (sweep / "checkpoints").mkdir(exist_ok=True)   # what writes that storage broke off midway left staged
    staged = [sweep / "trials" / f".{next(iter(first))}.4242.1796367440861488681.tmp",
              sweep / "checkpoints" / ".0123456789abcdef.pt.4242.1796367440861488681.tmp"]
    for path in staged:
        path.write_bytes(b"half")
    code, out = finish(cli("sweep", "teacher_mlp", *bigger, "--storage", str(tmp_path)))
    assert code == 0 and "6 of 6 trials were already finished" in out
    assert not any(path.exists() for path in staged) and finished_keys(str(sweep)) == planned_keys(*bigger)


@pytest.mark.parametrize("args, message", [
    (["--grid", "width"], "--grid 'width': expected KEY=V1,V2"),
    (["--grid", "lr=-1"], "invalid lr=-1"),
    (["--optimizers", "no_such_optimizer"], "unknown optimizer 'no_such_optimizer'"),
    (["--gpus-per-trial", "-1"], "--gpus-per-trial"),
    (["--cpus-per-trial", "0"], "--cpus-per-trial"),
    (["--mode", "bayes"], "--mode"),
    (["--resume", "--storage", "/nonexistent/sweeps"], "--resume: no earlier run of sweep"),
    (["--set", "colour=red"], "colour='red': unknown key"),
    (["--budget", "0"], "--budget: expected an integer > 0 and <= 10,000, got '0'"),
    (["--budget", "4", "--mode", "search"], "--budget: budgeted tuning is its own mode"),
    (["--budget", "4", "--grid", "lr=0.1,1"], "--grid lr=…: with --budget the hyperparameters come from"),
    (["--budget", "4", "--optimizers", "no_such_optimizer"], "unknown optimizer 'no_such_optimizer'"),
    (["--sequence-seed", "x"], "--sequence-seed"),
])
def test_bad_options_exit_2_with_a_message(args, message):
    code, out = finish(cli("sweep", "teacher_mlp", *args), timeout=120)
    assert code == 2, out
    assert message in out


@pytest.fixture
def ray_tmpdir():
    # Ray's socket paths must stay short: not under pytest's long tmp_path.
    path = tempfile.mkdtemp(prefix="rb", dir="/tmp")
    old = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = path
    yield path
    if old is None:
        os.environ.pop("RAY_TMPDIR")
    else:
        os.environ["RAY_TMPDIR"] = old


def test_two_node_cluster_places_trials_on_both_nodes(tmp_path, ray_tmpdir):
    import ray
    from ray.cluster_utils import Cluster

    from regclip_bench.sweep.runner import SweepOptions, run_sweep

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        cluster.wait_for_nodes()
        task = load_task("teacher_mlp")
        # Long enough (~2 s) that both nodes' actors are busy before any is free for reuse.
        trials = plan_grid(task, {"width": [256], "depth": [2], "lr": [0.1, 0.2, 0.3, 0.4]},
                           {"steps": 1000}, ["sgd"], 1)
        options = SweepOptions(name="two", storage=str(tmp_path), address=cluster.address)
        outcome = run_sweep(trials, options, task.model_dump(mode="json"))
        assert outcome.statuses == {"completed": 4} and outcome.errored == 0
        nodes = {read_trial(p)[1]["node_id"] for p in (tmp_path / "two" / "trials").iterdir()}
        assert nodes == {node.node_id for node in cluster.list_all_nodes()} and len(nodes) == 2
        # a trial of 2 CPUs fits no node of 1 (the cluster has 2 in all): refused, not left waiting forever
        from regclip_bench.errors import ConfigError
        more = plan_grid(task, {"width": [8], "depth": [1], "lr": [0.5]}, {"steps": 5}, ["sgd"], 1)
        with pytest.raises(ConfigError, match=f"--cpus-per-trial 2: no node of the cluster at {cluster.address} "
                                              r"\(alive, or of a type its autoscaler may add\) has 2 CPUs "
                                              r"\(the most on one node: 1\)"):
            run_sweep(more, SweepOptions(name="big", storage=str(tmp_path), address=cluster.address,
                                         cpus_per_trial=2), task.model_dump(mode="json"))
    finally:
        ray.shutdown()
        cluster.shutdown()


def _wait_for(predicate, timeout=120, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out")


def _checkpointed_trial(experiments: Path):
    """(trial dir, worker pid) of a running trial that has reported a checkpoint."""
    for result in experiments.glob("run-*/*/result.json"):
        for line in result.read_text().splitlines():
            row = json.loads(line)
            if row.get("checkpoint_step", 0) >= 100 and not row.get("finished"):
                return result.parent, row["pid"]
    return None


def test_killed_worker_is_retried_from_its_checkpoint(tmp_path):
    # 2,000 steps: still running when its worker is killed, however fast the machine (the worker, reused,
    # would otherwise already run the other trial when the kill lands)
    args = [*(a if a != "steps=400" else "steps=2000" for a in SLOW), "--grid", "lr=0.1,0.2"]
    process = cli("sweep", "teacher_mlp", *args, "--storage", str(tmp_path))
    trial_dir, pid = _wait_for(lambda: _checkpointed_trial(tmp_path / "teacher_mlp" / "tune"))
    os.kill(pid, signal.SIGKILL)
    code, out = finish(process)
    assert code == 0, out
    sweep = tmp_path / "teacher_mlp"
    assert finished_keys(str(sweep)) == planned_keys(*args)
    _, summary, _ = read_trial(sweep / "trials" / f"{trial_dir.name}.parquet")
    assert summary["status"] == "completed" and summary["resumed_from_step"] >= 100
    assert summary["steps_done"] == 2000


def test_interrupted_driver_resumes_without_lost_or_repeated_trials(tmp_path):
    args = [*SLOW, "--grid", "lr=0.1,0.2,0.3", "--max-concurrent", "1"]
    process = cli("sweep", "teacher_mlp", *args, "--storage", str(tmp_path))
    trials = tmp_path / "teacher_mlp" / "trials"
    _wait_for(lambda: trials.exists() and any(trials.iterdir()))
    process.send_signal(signal.SIGINT)
    code, out = finish(process)
    assert code == 130 and "--resume" in out, out
    hint = re.search(r"interrupted: continue with `(.*)`", out).group(1)   # the whole command, resumable as is
    assert hint == shlex.join(["regclip-bench", "sweep", "teacher_mlp", *args, "--storage", str(tmp_path),
                               "--no-aggregate", "--resume"])
    before = {p.name: p.stat().st_mtime_ns for p in trials.iterdir()}
    assert 1 <= len(before) < 3
    assert re.search(rf"ran {len(before)} trials: {len(before)} completed", out), out   # only what finished
    runs = json.loads((tmp_path / "teacher_mlp" / "sweep.json").read_text())["runs"]
    assert len(runs) == 1 and "finished" not in runs[0]                 # not marked finished

    store = tmp_path / "store"
    code, out = finish(cli("sweep", "teacher_mlp", *args, "--storage", str(tmp_path), "--resume",
                           "--store", str(store)))
    assert code == 0, out
    assert f"{len(before)} of 3 trials were already finished" in out, out
    assert f"ran {3 - len(before)} trials: {3 - len(before)} completed" in out, out   # not the restored ones again
    assert finished_keys(str(tmp_path / "teacher_mlp")) == planned_keys(*args)
    stored = load(str(store), "trials")
    assert sorted(stored.trial_id) == sorted(planned_keys(*args))        # none lost, none twice
    assert load(str(store), "steps").groupby("trial_id").step.apply(lambda s: s.is_unique).all()
    assert all((trials / name).stat().st_mtime_ns == mtime for name, mtime in before.items())
    assert len(list((tmp_path / "teacher_mlp" / "tune").iterdir())) == 1   # the same run, resumed
    runs = json.loads((tmp_path / "teacher_mlp" / "sweep.json").read_text())["runs"]
    assert len(runs) == 1 and "finished" in runs[0]                     # ... and now finished


def test_search_mode_samples_the_budget_and_records_how(tmp_path):
    code, out = finish(cli("sweep", "teacher_mlp", "--mode", "search", "--samples", "4",
                           "--optimizers", "delta_gclip", "--set", "width=16", "--set", "depth=1",
                           "--set", "steps=120", "--set", "eval_every=20", "--storage", str(tmp_path)))
    assert code == 0, out
    assert "lr=loguniform(0.1, 3)" in out and "gamma=loguniform(0.1, 1)" in out
    assert "[I " not in out and "WARNING" not in out, out                # neither Optuna's log nor Tune's
    sweep = tmp_path / "teacher_mlp"
    summaries = [read_trial(p)[1] for p in (sweep / "trials").iterdir()]
    assert len(summaries) == 4                                   # the budget: 4 trials
    assert {s["status"] for s in summaries} <= {"completed", "stopped"}
    assert any(s["status"] == "completed" for s in summaries)    # ASHA keeps the leader
    assert {(s["config"]["width"], s["config"]["depth"]) for s in summaries} == {(16, 1)}   # one workload
    assert re.search(r"best loss \d", out)                       # the progress shows the scored metric
    lrs = [s["config"]["lr"] for s in summaries]
    assert len(set(lrs)) == 4 and all(0.1 <= lr <= 3 for lr in lrs)
    run = json.loads((sweep / "sweep.json").read_text())["runs"][0]
    assert (run["mode"], run["sampler"], run["scheduler"], run["samples_per_optimizer"]) == \
        ("search", "optuna TPE", "ASHA", 4)
    assert run["metric"] == "loss" and run["mode"] == "search" and run["max_t_evaluations"] == 7


def test_run_is_sweep_aggregate_report_leaderboard(tmp_path):
    code, out = finish(cli("run", "teacher_mlp", "--set", "steps=20", "--storage", str(tmp_path / "sweeps"),
                           "--store", str(tmp_path / "store"), "--out", str(tmp_path / "results")))
    assert code == 0, out
    for stage in ("[1/4] sweep teacher_mlp: 42 trials", "[2/4] aggregated 42 trials", "[3/4] report",
                  "[4/4] leaderboard"):
        assert stage in out
    board = json.loads((tmp_path / "results" / "leaderboard.json").read_text())
    ran = [e for e in board["entries"] if e["status"] == "ran"]
    assert len(ran) == 3 * 4                                   # 3 widths at depth 2, 4 optimizers each
    assert {e["optimizer"] for e in ran} == {"adam", "delta_gclip", "gclip", "sgd"}
    assert all(e["budget"] == {**e["budget"], "configurations": 1 if e["optimizer"] == "adam" else 2,
                               "trials": 2 if e["optimizer"] == "adam" else 4} for e in ran)
    assert not any(e["headline"] for e in ran)                 # steps=20 is not the file's budget
    assert "teacher_mlp[steps=20]" in {e["workload"] for e in ran}
    page = (tmp_path / "results" / "index.html").read_text()
    assert "reports/teacher_mlp/report.html" in page
    assert (tmp_path / "results" / "reports" / "teacher_mlp" / "report.html").exists()
    assert out.rstrip().endswith(f"open {(tmp_path / 'results' / 'index.html').resolve().as_uri()}")


def test_a_trial_whose_file_is_written_reports_it_and_is_not_run_again(tmp_path):
    """The race of an interrupted driver, made certain: Tune restarts a trial (or a pack) whose
    file was written before Tune heard it had finished.  It reports the file; the file stays."""
    script = textwrap.dedent(f"""
        import json
        from pathlib import Path
        from regclip_bench.spec import load_task
        from regclip_bench.sweep.grid import plan_grid
        from regclip_bench.sweep.runner import _tune_trial
        from regclip_bench.sweep.session import ray_session
        task = load_task("teacher_mlp")
        plan = plan_grid(task, {{"width": [16], "depth": [1], "lr": [0.1, 0.2, 0.3]}}, {{"steps": 20}}, ["sgd"], 1)
        common = {{"task": task.model_dump(mode="json"), "sweep": "s", "sweep_dir": {str(tmp_path / 's')!r},
                  "checkpoint_every_s": 10.0}}
        params = [{{**_tune_trial(group), **common}} for group in ([plan[0]], plan[1:])]
        with ray_session(None, common["sweep_dir"]):
            from ray import tune
            from regclip_bench.sweep.trainable import sweep_trial
            for run in ("first", "again"):
                tuner = tune.Tuner(sweep_trial, param_space={{"trial": tune.grid_search(params)}},
                                   run_config=tune.RunConfig(name=run, storage_path={str(tmp_path / 'tune')!r},
                                                             verbose=0))
                metrics = sorted((r.metrics for r in tuner.fit()), key=lambda m: "members" in m)
                files = {{p.name: p.stat().st_mtime_ns for p in Path(common["sweep_dir"], "trials").iterdir()}}
                print(json.dumps({{"metrics": metrics, "files": files}}, default=str), flush=True)
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    (first, written), (again, after) = (json.loads(line).values() for line in done.stdout.splitlines()[-2:])
    assert len(written) == 3 and after == written                      # not one file rewritten
    files = sorted((tmp_path / "s" / "trials").iterdir())
    summaries = {p.stem: read_trial(p)[1] for p in files}
    single = next(s for s in summaries.values() if "pack" not in s)
    assert again[0]["final_loss"] == first[0]["final_loss"] == single["final_loss"]
    assert again[0]["wall_time_s"] == single["wall_time_s"]           # the file's numbers, not a new run's
    assert again[1]["member_statuses"] == first[1]["member_statuses"] == {"completed": 2}
    assert again[1]["best_final_loss"] == first[1]["best_final_loss"] == min(
        s["final_loss"] for s in summaries.values() if "pack" in s)


def _listening(pids):
    """(process name, address, port) of every TCP socket in LISTEN state that one of `pids` holds."""
    inodes = {}
    for pid in pids:
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes[link[8:-1]] = name
        except OSError:
            continue
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:   # 0A: LISTEN
                address, port = fields[1].split(":")
                loopback = address in ("0100007F", "00000000000000000000000001000000")
                wildcard = set(address) == {"0"}
                found.append((inodes[fields[9]], "loopback" if loopback else "all" if wildcard else "node",
                              int(port, 16)))
    return found


def test_a_local_sweep_listens_only_where_ray_must(tmp_path):
    """docs/security.md: Ray 2.58 binds its GCS, raylet and workers on every interface, however its node IP is
    set (tried: ray.init(_node_ip_address="127.0.0.1"), ray start --node-ip-address=127.0.0.1); what the suite
    adds is none, and a local Ray is token-authenticated.  This lists what a running local sweep listens on."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    long = [a if a != "steps=400" else "steps=20000" for a in SLOW]   # still running when listed; stopped below
    process = subprocess.Popen([sys.executable, "-m", "regclip_bench.cli", "sweep", "teacher_mlp", *long,
                                "--grid", "lr=0.1", "--storage", str(tmp_path), "--no-aggregate"],
                               cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        from regclip_bench.sweep.session import session_processes
        records = tmp_path / "cache" / "regclip-bench" / "ray-sessions"
        record = _wait_for(lambda: next(records.glob("*.json"), None) if records.exists() else None)
        session = json.loads(record.read_text())
        _wait_for(lambda: list((tmp_path / "teacher_mlp" / "tune").glob("run-*/*/result.json")))   # a trial runs
        pids = [session["driver_pid"], *session_processes(session["session_dir"])]
        sockets = _listening(pids)
        assert sockets, "a running local sweep listens somewhere"
        exposed = {name for name, where, _ in sockets if where != "loopback"}
        # Ray's own servers (and the workers' core-worker gRPC servers, named ray::… or after the driver)
        ray_names = ("gcs_server", "raylet", "ray::", "python", "regclip-bench", "default_worker", "agent")
        assert all(name.startswith(ray_names) for name in exposed), exposed
    finally:
        process.send_signal(signal.SIGINT)
        finish(process)


def test_trials_ray_kills_for_memory_are_retried_then_said_in_one_line(tmp_path):
    # Ray's memory monitor, told that any use of memory is too much: it kills every worker that runs a trial
    env = {**os.environ, "RAY_memory_usage_threshold": "0.001", "RAY_memory_monitor_refresh_ms": "50"}
    code, out = finish(cli("sweep", "teacher_mlp", *SMALL, "--storage", str(tmp_path), "--max-failures", "1",
                           env=env))
    assert code == 1 and "Traceback" not in out, out
    assert "retried" in out
    assert re.search(r"^errored \(4 trials\): OutOfMemoryError: Ray's memory monitor killed the trial's worker \(the "
                     r"node ran low on memory\); give each trial more room: a smaller --max-concurrent or a larger "
                     rf"--cpus-per-trial \(details: {tmp_path}/teacher_mlp/tune/run-[0-9-]+/<trial key>/"
                     r"error.txt\)$", out, re.M), out
    assert not finished_keys(str(tmp_path / "teacher_mlp"))
