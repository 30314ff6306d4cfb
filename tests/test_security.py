"""What a local sweep exposes and leaves behind: Ray's token, and the processes of a killed driver.

Each test starts its own Ray processes and stops only those."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from regclip_bench.sweep.session import session_processes

ROOT = Path(__file__).resolve().parent.parent
SLOW = ["--grid", "width=1024", "--grid", "depth=2", "--optimizers", "sgd", "--seeds", "1",
        "--grid", "lr=0.1,0.2", "--set", "steps=3000", "--no-aggregate"]


def _wait_for(predicate, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("timed out waiting")


def test_a_local_session_refuses_clients_without_its_token(tmp_path):
    script = textwrap.dedent(f"""
        import os, subprocess, sys
        from regclip_bench.sweep.session import ray_session
        with ray_session(None, {str(tmp_path / 'sweep')!r}):
            import ray
            gcs = ray.get_runtime_context().gcs_address
            join = ["import ray; ray.init(address=%r); print('JOINED')" % gcs]
            quick = {{"RAY_gcs_rpc_server_connect_timeout_s": "3"}}
            stranger = {{k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}}
            for who, env in (("stranger", stranger), ("member", dict(os.environ))):
                done = subprocess.run([sys.executable, "-c", *join], env={{**env, **quick}},
                                      capture_output=True, text=True, timeout=120)
                print(who, "JOINED" in done.stdout, flush=True)
        """)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env = {k: v for k, v in env.items() if not k.startswith("RAY_AUTH")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env=env)
    assert "stranger False" in done.stdout and "member True" in done.stdout, done.stdout + done.stderr[-2000:]


def test_the_next_start_stops_what_a_killed_driver_left_and_nothing_else(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    storage = ["--storage", str(tmp_path / "sweeps"), "--name", "orphans"]
    # Another Ray session on the machine, which must survive.
    other = subprocess.Popen([sys.executable, "-c", "import ray, time; ray.init(include_dashboard=False, "
                              "num_cpus=1); print(ray._private.worker._global_node.get_session_dir_path(), "
                              "flush=True); time.sleep(600)"], stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    driver = None
    try:
        other_session = other.stdout.readline().strip()
        others = _wait_for(lambda: session_processes(other_session))
        driver = subprocess.Popen([sys.executable, "-m", "regclip_bench.cli", "sweep", "teacher_mlp", *SLOW,
                                   *storage], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        records = tmp_path / "cache" / "regclip-bench" / "ray-sessions"
        record = _wait_for(lambda: next(records.glob("*.json"), None) if records.exists() else None)
        session = json.loads(record.read_text())["session_dir"]
        _wait_for(lambda: (tmp_path / "sweeps" / "orphans" / "tune").exists())
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        time.sleep(3)
        left = session_processes(session)
        assert left, "a killed driver leaves Ray's agents behind"
        done = subprocess.run([sys.executable, "-m", "regclip_bench.cli", "sweep", "teacher_mlp", *SLOW, *storage,
                               "--dry-run"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
        assert done.returncode == 0 and left == session_processes(session)   # a dry run starts nothing, stops nothing
        quick = ["--grid", "width=8", "--grid", "depth=1", "--optimizers", "sgd", "--seeds", "1", "--grid", "lr=0.1",
                 "--set", "steps=10", "--no-aggregate"]
        done = subprocess.run([sys.executable, "-m", "regclip_bench.cli", "sweep", "teacher_mlp", *quick, *storage],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
        assert f"stopped {len(left)} Ray processes left by this sweep's killed run" in done.stderr, done.stderr
        assert session_processes(session) == []
        assert all(pid in session_processes(other_session) for pid in others)          # another session: untouched
    finally:
        if driver is not None and driver.poll() is None:
            driver.kill()
        other.terminate()
        other.wait(timeout=60)


def test_a_second_driver_of_a_running_sweep_is_refused(tmp_path):
    from regclip_bench.errors import ConfigError
    from regclip_bench.sweep.session import _record_path, _start_time, stop_orphans
    os.environ["XDG_CACHE_HOME"] = str(tmp_path)
    try:
        record = _record_path("/somewhere/sweep")
        record.parent.mkdir(parents=True)
        record.write_text(json.dumps({"session_dir": "/nowhere", "driver_pid": os.getpid(),
                                      "driver_start": _start_time(os.getpid()), "sweep_dir": "/somewhere/sweep"}))
        with pytest.raises(ConfigError, match="is already running"):
            stop_orphans(record)
        record.write_text(json.dumps({"session_dir": "/nowhere/at/all", "driver_pid": os.getpid(),
                                      "driver_start": "0", "sweep_dir": "/somewhere/sweep"}))   # a reused pid
        assert stop_orphans(record) == 0 and not record.exists()
    finally:
        del os.environ["XDG_CACHE_HOME"]
