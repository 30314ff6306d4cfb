"""Object storage (issue 31, item 1): a sweep, an interrupted sweep and its resume, aggregation, query,
reports and the leaderboard, all on s3:// URIs, served by moto's S3-compatible server (the test extra)
on 127.0.0.1.  The commands run as a user runs them, in their own processes, with AWS's standard
variables; the store is then read back and checked."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from regclip_bench.results import load
from regclip_bench.spec import load_task
from regclip_bench.storage import filesystem, finished_keys
from regclip_bench.sweep.grid import plan_grid

ROOT = Path(__file__).resolve().parent.parent
FOUR = ["--grid", "width=8,16", "--grid", "depth=1", "--grid", "lr=0.1,0.3", "--optimizers", "sgd",
        "--seeds", "1", "--set", "steps=20"]
FOUR_KEYS = {t.key for t in plan_grid(load_task("teacher_mlp"), {"width": [8, 16], "depth": [1], "lr": [0.1, 0.3]},
                                      {"steps": 20}, ["sgd"], 1)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """A bucket on a moto S3 server on loopback; AWS's variables set for this process and its children."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    variables = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline and server.poll() is None, "moto's server did not start"
                time.sleep(0.2)
        pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", access_key="testing",
                          secret_key="testing", region="us-east-1", allow_bucket_creation=True).create_dir("regclip")
        yield "s3://regclip"
    finally:
        server.terminate()
        server.wait(timeout=30)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def cli(*args):
    return subprocess.Popen([sys.executable, "-m", "regclip_bench.cli", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(process, timeout=600):
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out


def objects(uri: str) -> list[str]:
    fs, path = filesystem(uri)
    found = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    return sorted(info.path[len(path) + 1:] for info in found if info.type == pafs.FileType.File)


def read_text(uri: str) -> str:
    fs, path = filesystem(uri)
    with fs.open_input_stream(path) as stream:
        return stream.read().decode()


def test_a_sweep_its_store_and_its_pages_all_live_on_object_storage(s3):
    code, out = finish(cli("sweep", "teacher_mlp", *FOUR, "--storage", f"{s3}/sweeps", "--name", "s",
                           "--store", f"{s3}/store"))
    assert code == 0, out
    assert "aggregated 4 trials of sweep s-" in out and f"into {s3}/store" in out
    assert finished_keys(f"{s3}/sweeps/s") == FOUR_KEYS
    assert not [o for o in objects(f"{s3}/sweeps/s") if o.startswith("checkpoints/")]   # none left behind
    assert sorted(load(f"{s3}/store", "trials").trial_id) == sorted(FOUR_KEYS)

    code, out = finish(cli("aggregate", f"{s3}/sweeps/s", "--into", f"{s3}/store"))   # again: idempotent
    assert code == 0, out
    assert sorted(load(f"{s3}/store", "trials").trial_id) == sorted(FOUR_KEYS)
    assert load(f"{s3}/store", "steps").groupby("trial_id").step.apply(lambda s: s.is_unique).all()

    code, out = finish(cli("query", f"{s3}/store"))
    assert code == 0 and out.count("2 trials: 2 completed") == 2, out   # two workloads, never pooled

    code, out = finish(cli("report", f"{s3}/store", "--out", f"{s3}/pages/reports"))
    assert code == 0 and f"wrote {s3}/pages/reports/teacher_mlp/report.html" in out, out
    code, out = finish(cli("leaderboard", f"{s3}/store", "--out", f"{s3}/pages"))
    assert code == 0 and f"wrote {s3}/pages/index.html" in out and "open " not in out, out
    assert not (ROOT / "s3:").exists()                                      # nothing in a local "s3:" folder
    written = objects(f"{s3}/pages")
    assert {"index.html", "leaderboard.json", "leaderboard.md", "reports/teacher_mlp/report.html"} <= set(written)
    board = json.loads(read_text(f"{s3}/pages/leaderboard.json"))
    assert {e["optimizer"] for e in board["entries"] if e["task"] == "teacher_mlp" and e["status"] == "ran"} == {"sgd"}


def test_an_interrupted_sweep_on_object_storage_resumes_without_lost_or_repeated_trials(s3):
    args = ["sweep", "teacher_mlp", "--grid", "width=512", "--grid", "depth=2", "--grid", "lr=0.1,0.2,0.3",
            "--optimizers", "sgd", "--seeds", "1", "--set", "steps=300", "--set", "eval_every=50",
            "--checkpoint-every", "0", "--max-concurrent", "1", "--storage", f"{s3}/sweeps", "--name", "r"]
    first = cli(*args, "--no-aggregate")
    deadline = time.time() + 300
    while not finished_keys(f"{s3}/sweeps/r") and first.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    first.send_signal(signal.SIGINT)
    code, out = finish(first)
    assert code == 130 and "--resume" in out, out
    before = finished_keys(f"{s3}/sweeps/r")
    assert 1 <= len(before) < 3, out

    code, out = finish(cli(*args, "--resume", "--store", f"{s3}/store-r"))
    assert code == 0, out
    planned = {t.key for t in plan_grid(load_task("teacher_mlp"), {"width": [512], "depth": [2], "lr": [0.1, 0.2, 0.3]},
                                        {"steps": 300, "eval_every": 50}, ["sgd"], 1)}
    assert finished_keys(f"{s3}/sweeps/r") == planned
    stored = load(f"{s3}/store-r", "trials")
    assert sorted(stored.trial_id) == sorted(planned)                        # none lost, none twice
    assert set(stored.status) == {"completed"}
    runs = json.loads(read_text(f"{s3}/sweeps/r/sweep.json"))["runs"]
    assert len(runs) == 1 and "finished" in runs[0]                          # the same run, resumed, finished


class Proxy:
    """A TCP proxy on 127.0.0.1 in front of the S3 server: `down()` stops listening and cuts every open
    connection (the endpoint refuses, as a server that went away does); `up()` listens on the same port."""

    def __init__(self, target: int) -> None:
        self.target, self.port, self.open = target, _free_port(), []
        self.up()

    def up(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def down(self) -> None:
        for sock in [self.listener, *self.open]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.open.clear()

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
                server = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                return
            self.open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (a, b):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def test_storage_that_goes_away_mid_sweep_is_waited_for_and_nothing_is_lost(s3, tmp_path):
    from regclip_bench.config import resolve_trial
    from regclip_bench.identity import trial_key
    from regclip_bench.trial import run_trial
    from regclip_bench.trial_io import write_trial
    args = ["sweep", "teacher_mlp", "--grid", "width=512", "--grid", "depth=2", "--grid", "lr=0.1,0.2",
            "--optimizers", "sgd", "--seeds", "1", "--set", "steps=400", "--set", "eval_every=50",
            "--checkpoint-every", "0", "--no-aggregate"]
    proxy = Proxy(int(os.environ["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]))
    env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"}
    run = subprocess.Popen([sys.executable, "-m", "regclip_bench.cli", *args, "--storage", f"{s3}/outage",
                            "--name", "o"], cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=env)
    deadline = time.time() + 300
    while not [o for o in objects(f"{s3}/outage/o") if o.startswith("checkpoints/")] and time.time() < deadline:
        time.sleep(0.1)
    proxy.down()     # the endpoint refuses for 20 s: longer than the S3 client's own retries (≈ 12 s)
    down = time.monotonic()
    calm = {}        # meanwhile, the same trials as an uninterrupted run trains them
    for lr in (0.1, 0.2):
        config = resolve_trial(load_task("teacher_mlp"), dict(width=512, depth=2, lr=lr, optimizer="sgd", seed=0,
                                                                steps=400, eval_every=50))
        calm[trial_key(config)] = write_trial(tmp_path / f"{lr}.parquet", run_trial(config))
    time.sleep(max(0.0, 20 - (time.monotonic() - down)))
    proxy.up()
    code, out = finish(run)
    proxy.down()
    assert code == 0 and "Traceback" not in out, out
    assert re.search(r"waited for storage \d+×", out), out                # said on the progress line
    assert "ran 2 trials: 2 completed; 0 errored" in out, out
    assert finished_keys(f"{s3}/outage/o") == set(calm)
    assert not [o for o in objects(f"{s3}/outage/o") if o.startswith("checkpoints/")]
    for key, path in calm.items():                                     # the numbers of the calm run
        ours, theirs = load_trial(f"{s3}/outage/o/trials/{key}.parquet"), load_trial(str(path))
        assert ours[0].drop_columns(["examples_per_s"]).equals(theirs[0].drop_columns(["examples_per_s"]))
        assert repr(ours[1]["final_loss"]) == repr(theirs[1]["final_loss"])


def test_an_endpoint_that_does_not_answer_fails_in_bounded_time_with_one_line(s3):
    dead = f"http://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "regclip_bench.cli", "sweep", "teacher_mlp", *FOUR,
                                "--storage", f"{s3}/sweeps", "--name", "dead", "--no-aggregate"], cwd=ROOT,
                               text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env={**os.environ, "AWS_ENDPOINT_URL": dead})
    code, out = finish(process, timeout=300)
    assert code == 1 and time.monotonic() - start < 120, out
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"regclip-bench: error: sweep storage {s3}/sweeps/dead (endpoint {dead}): "), out
    assert "Traceback" not in out, out


def load_trial(uri: str):
    from regclip_bench.trial_io import read_trial
    return read_trial(uri)


@pytest.fixture
def split_cluster(tmp_path):
    """A Ray cluster of two nodes on loopback that share no disk: a head with no CPUs (the driver's
    machine) and a worker with 2 CPUs started in its own mount namespace, where a tmpfs covers
    tmp_path/storage.  Root only (unshare --mount); skipped elsewhere.  Stops only its own processes."""
    from regclip_bench.sweep.session import session_processes
    storage = tmp_path / "storage"
    storage.mkdir()
    ray_bin = str(Path(sys.executable).parent / "ray")
    trial = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True)
    if trial.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here ({trial.stderr.decode().strip() or 'not root'})")
    import tempfile
    port, temp = _free_port(), Path(tempfile.mkdtemp(prefix="rb-", dir="/tmp"))   # short: Ray's socket paths
    quiet = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run([ray_bin, "start", "--head", f"--port={port}", "--num-cpus=0", f"--temp-dir={temp}",
                    "--include-dashboard=false", "--node-ip-address=127.0.0.1"], check=True, capture_output=True,
                   env=quiet)
    worker = (f"mount -t tmpfs tmpfs {storage} && exec {ray_bin} start --address=127.0.0.1:{port} --num-cpus=2 "
              "--node-ip-address=127.0.0.1")
    subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", worker], check=True,
                   capture_output=True, env=quiet)
    try:
        yield f"127.0.0.1:{port}", storage
    finally:
        session = os.path.realpath(temp / "session_latest")
        for pid in session_processes(session):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(temp, ignore_errors=True)


def test_a_node_that_shares_no_disk_is_refused_local_storage_and_runs_on_object_storage(s3, split_cluster):
    address, storage = split_cluster
    code, out = finish(cli("sweep", "teacher_mlp", *FOUR, "--address", address, "--storage", str(storage),
                           "--name", "split", "--no-aggregate"))
    assert code == 2, out
    assert re.search(rf"^regclip-bench: error: --storage {storage}: not the same folder on every node — 1 of 2 "
                     r"nodes do not see a file written there here \([0-9a-f]{12} \([0-9.]+\)\); their trials' "
                     "results would be lost", out, re.M), out
    assert not (storage / "split" / "trials").exists() and "done 0/4" not in out      # before any trial ran
    assert not [p for p in storage.iterdir() if p.name.startswith(".regclip-probe")]  # the probe removed

    code, out = finish(cli("sweep", "teacher_mlp", *FOUR, "--address", address, "--storage", f"{s3}/split",
                           "--name", "split", "--store", f"{s3}/split-store"))
    assert code == 0, out
    stored = load(f"{s3}/split-store", "trials")
    assert sorted(stored.trial_id) == sorted(FOUR_KEYS)
    import ray
    ray.init(address=address, logging_level="ERROR")
    try:
        worker = {n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) == 2}
    finally:
        ray.shutdown()
    assert set(stored.node_id) == worker                                 # every trial ran on the worker node
