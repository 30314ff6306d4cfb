"""Damaged stores, full and read-only disks, racing drivers (issue 30, item 8): each case kills, fills or
corrupts for real, then checks that every trial is present once and the numbers equal an undisturbed run."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from regclip_bench.cli import main
from regclip_bench.errors import ConfigError
from regclip_bench.results import ResultsError, aggregate, load
from regclip_bench.storage import finished_keys, inside
from regclip_bench.trial_io import read_trial

from stores import ONE_TRIALS_FILE, RUNS, make_sweep, store_copy

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ["--grid", "width=8,16", "--grid", "depth=1", "--grid", "lr=0.1,0.3", "--optimizers", "sgd",
         "--seeds", "1", "--set", "steps=20"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweeps") / "teacher_mlp"
    make_sweep(folder, "teacher_mlp-hard", RUNS)
    return folder


@pytest.fixture
def mount(tmp_path):
    """mount(options) → a fresh tmpfs at tmp_path/mnt with those options (root only; skipped elsewhere)."""
    point = tmp_path / "mnt"
    point.mkdir()
    mounted = []

    def make(options: str) -> Path:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'not root'})")
        mounted.append(point)
        return point

    yield make
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def run_cli(argv, capsys):
    capsys.readouterr()
    code = main(argv)
    return code, capsys.readouterr()


def test_a_store_names_every_damaged_file_in_one_pass(tmp_path):
    store = Path(store_copy(tmp_path))
    partition = (store / ONE_TRIALS_FILE).parent
    for name in ("a.parquet", "b.parquet"):
        shutil.copy(store / ONE_TRIALS_FILE, partition / name)
        (partition / name).write_bytes((partition / name).read_bytes()[:500])   # truncated
    (partition / "c.parquet").mkdir()                                             # a folder by a file's name
    with pytest.raises(ResultsError) as caught:
        load(str(store), "trials")
    message = str(caught.value)
    assert "3 damaged entries" in message and "\n" not in message
    assert all(f"{name}.parquet" in message for name in "abc")


def test_a_full_disk_leaves_the_store_as_it_was_and_says_so_in_one_line(sweep, mount, capsys):
    store = mount("size=16k") / "store"
    code, out = run_cli(["aggregate", str(sweep), "--into", str(store)], capsys)
    assert code == 1, out
    assert len(out.err.strip().splitlines()) == 1 and "No space left on device" in out.err
    assert [p for p in store.rglob("*") if p.is_file() and p.name != "_schema.json"] == []   # all or nothing
    subprocess.run(["mount", "-o", "remount,size=64m", str(store.parent)], check=True)
    code, out = run_cli(["aggregate", str(sweep), "--into", str(store)], capsys)
    assert code == 0, out
    trials = load(str(store), "trials")
    assert sorted(trials["trial_id"]) == sorted(finished_keys(str(sweep)))


def test_a_read_only_store_is_refused_before_anything_is_read(sweep, mount, capsys, tmp_path):
    aggregate(str(sweep), str(tmp_path / "built"))
    point = mount("size=16m")
    shutil.copytree(tmp_path / "built", point / "store")
    subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
    code, out = run_cli(["aggregate", str(sweep), "--into", str(point / "store")], capsys)
    assert code == 2 and "is not writable" in out.err and len(out.err.strip().splitlines()) == 1


def test_query_counts_a_trial_aggregated_twice_once(tmp_path, capsys):
    store = Path(store_copy(tmp_path))
    rows = len(pq.read_table(store / ONE_TRIALS_FILE))
    for copy in range(3):   # the same sweep's file under three more sweep ids
        shutil.copy(store / ONE_TRIALS_FILE, (store / ONE_TRIALS_FILE).with_name(f"copy-{copy}.parquet"))
    code, out = run_cli(["query", str(store)], capsys)
    assert code == 0 and f"{rows:4d} trials" in out.out and f"{4 * rows:4d} trials" not in out.out


def test_a_name_read_from_data_never_leaves_its_output_folder(tmp_path):
    assert inside(tmp_path, "reports", "teacher_mlp") == tmp_path / "reports" / "teacher_mlp"
    for name in ("../../pwned", "a/../../b", "/etc"):
        with pytest.raises(ConfigError, match="refusing to write outside"):
            inside(tmp_path / "out", name)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path / "elsewhere")   # the user's own link is theirs to follow
    assert inside(tmp_path / "out", "link", "x") == tmp_path / "out" / "link" / "x"


def cli(*args):
    return subprocess.Popen([sys.executable, "-m", "regclip_bench.cli", *args, "--no-aggregate"], cwd=ROOT,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_damaged_trial_files_are_moved_aside_and_their_trials_run_again(tmp_path):
    first = cli("sweep", "teacher_mlp", *SWEEP, "--storage", str(tmp_path), "--name", "s")
    out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, out
    trials = tmp_path / "s" / "trials"
    originals = {p.name: read_trial(p) for p in trials.glob("*.parquet")}
    assert len(originals) == 4
    truncated, empty, folder = sorted(originals)[:3]
    (trials / truncated).write_bytes((trials / truncated).read_bytes()[:700])
    (trials / empty).write_bytes(b"")
    (trials / folder).unlink()
    (trials / folder).mkdir()
    again = cli("sweep", "teacher_mlp", *SWEEP, "--storage", str(tmp_path), "--name", "s")
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
    assert "3 damaged trial file(s) moved to" in out and "ran 3 trials" in out
    aside = [p.name for p in (tmp_path / "s" / "damaged").rglob("*.parquet")]
    assert sorted(aside) == sorted([truncated, empty, folder])                    # moved, not deleted
    for name, original in originals.items():                                      # re-run bit for bit
        assert_same_numbers(read_trial(trials / name), original)


def assert_same_numbers(trial, other):
    """Two trial files (read_trial) hold the same numbers, bit for bit, but for times and throughputs."""
    (steps, summary, evals), (steps_other, summary_other, evals_other) = trial, other
    timed = [c for c in steps.column_names if c.endswith("_per_s")]   # a throughput, not a result
    assert steps.drop_columns(timed).equals(steps_other.drop_columns(timed))
    untimed = lambda rows: [{k: v for k, v in e.items() if "second" not in k and not k.endswith("_s")}  # noqa: E731
                            for e in rows]
    assert untimed(evals) == untimed(evals_other)
    assert repr(summary["final_loss"]) == repr(summary_other["final_loss"])


SLOW = ["--grid", "width=1024", "--grid", "depth=2", "--grid", "lr=0.1,0.2", "--optimizers", "sgd", "--seeds", "1",
        "--set", "steps=800", "--set", "eval_every=50", "--checkpoint-every", "0"]   # 3-10 s a trial, 16 checkpoints


def _saved_step(folder: Path) -> int:
    """The furthest step any checkpoint in `folder` holds (0 if none can be read yet)."""
    import torch
    steps = [0]
    for path in folder.glob("*.pt"):
        try:
            steps.append(torch.load(path, weights_only=False)["step"])
        except (OSError, EOFError, RuntimeError, KeyError):
            pass
    return max(steps)


@pytest.fixture(scope="module")
def calm(tmp_path_factory):
    """The trials folder of SLOW run undisturbed: what every recovery below must equal."""
    folder = tmp_path_factory.mktemp("calm")
    run = cli("sweep", "teacher_mlp", *SLOW, "--storage", str(folder), "--name", "s")
    out, _ = run.communicate(timeout=600)
    assert run.returncode == 0, out
    return folder / "s" / "trials"


def assert_recovered(trials: Path, calm: Path, out: str) -> None:
    """Every trial once, at least one gone on from a checkpoint, the numbers of the undisturbed run, no
    checkpoint left behind."""
    assert sorted(p.name for p in trials.iterdir()) == sorted(p.name for p in calm.iterdir())
    assert len(list(trials.iterdir())) == 2, out
    resumed = [read_trial(p)[1]["resumed_from_step"] for p in trials.glob("*.parquet")]
    assert max(resumed) >= 100, (resumed, out)                                # went on, not from step 0
    for path in trials.glob("*.parquet"):
        assert_same_numbers(read_trial(path), read_trial(calm / path.name))
    assert not list((trials.parent / "checkpoints").glob("*.pt"))             # dropped once the trial is written


def _wait_for_a_checkpoint(folder: Path, process, step: int = 100) -> None:
    deadline = time.time() + 300
    while _saved_step(folder) < step and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert list(folder.glob("*.pt")), "no checkpoint was written in time"


@pytest.mark.parametrize("how", [[], ["--resume"]], ids=["run-again", "resume"])
def test_a_sweep_whose_driver_was_killed_goes_on_from_its_checkpoints(tmp_path, calm, how):
    killed = cli("sweep", "teacher_mlp", *SLOW, "--storage", str(tmp_path / "killed"), "--name", "s")
    _wait_for_a_checkpoint(tmp_path / "killed" / "s" / "checkpoints", killed)
    killed.kill()                                                       # SIGKILL: no clean-up of any kind
    killed.communicate()
    again = cli("sweep", "teacher_mlp", *SLOW, "--storage", str(tmp_path / "killed"), "--name", "s", *how)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
    assert_recovered(tmp_path / "killed" / "s" / "trials", calm, out)
    assert "WARNING" not in out and "FileNotFoundError" not in out, out   # Tune's restore says nothing wrong


def _trial_workers() -> list[int]:
    """The pids of the Ray worker processes running a trial: Tune's function-trainable actor sets its
    process title to `ray::ImplicitFunc.train`."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if entry.name.isdigit() and title.startswith(b"ray::ImplicitFunc"):
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 CPUs to run two trials at once")
def test_after_recoveries_the_rest_of_a_sweep_still_runs_trials_side_by_side(tmp_path):
    """A killed worker (Tune retries its trial from its checkpoint), then a killed driver and the same
    command again: the trials the last run trains still run two at a time — no placement group left
    pending, no CPU reserved and idle (the sweep's last line counts the most Tune ran at once, at every
    trial event)."""
    args = ["sweep", "teacher_mlp", "--grid", "width=1024", "--grid", "depth=2", "--grid", "lr=0.1,0.2,0.3,0.4",
            "--optimizers", "sgd", "--seeds", "1", "--set", "steps=1000", "--set", "eval_every=50",
            "--checkpoint-every", "0", "--storage", str(tmp_path), "--name", "s"]
    sweep = tmp_path / "s"
    first = cli(*args)
    _wait_for_a_checkpoint(sweep / "checkpoints", first)
    workers = _trial_workers()
    assert workers, "no trial worker found"
    os.kill(workers[0], 9)                                               # Tune retries it from its checkpoint
    deadline = time.time() + 300
    while not list((sweep / "trials").glob("*.parquet")) and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    first.kill()                                                         # then the driver, mid-sweep
    out, _ = first.communicate()
    before = {p.name for p in (sweep / "trials").glob("*.parquet")}
    assert 1 <= len(before) <= 2, out
    again = cli(*args)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
    assert len(list((sweep / "trials").glob("*.parquet"))) == 4, out
    assert re.search(r"ran \d+ trials: \d+ completed; 0 errored; up to ([2-9]|\d\d+) at once", out), out


def test_sweep_storage_that_fills_mid_run_is_one_line_and_the_same_command_then_finishes(mount, calm):
    storage = mount("size=64m")
    first = cli("sweep", "teacher_mlp", *SLOW, "--storage", str(storage), "--name", "s", "--max-failures", "1")
    _wait_for_a_checkpoint(storage / "s" / "checkpoints", first)
    filler = storage / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=100"], capture_output=True)
    out, _ = first.communicate(timeout=600)
    assert first.returncode == 1, out
    assert "Traceback" not in out and out.strip().splitlines()[-1] == (
        f"regclip-bench: error: sweep storage {storage}/s: No space left on device; the trials finished so far "
        "are kept — run the same command again once it takes files"), out
    assert "retried 2" in out                                                 # the progress line said so
    filler.unlink()
    again = cli("sweep", "teacher_mlp", *SLOW, "--storage", str(storage), "--name", "s")
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
    assert_recovered(storage / "s" / "trials", calm, out)


def test_checkpoints_that_cannot_be_saved_end_their_trials_in_one_line(mount):
    storage = mount("size=2m")                                  # room for the sweep's files, not a checkpoint
    run = cli("sweep", "teacher_mlp", *SLOW, "--storage", str(storage), "--name", "s", "--max-failures", "1")
    out, _ = run.communicate(timeout=600)
    assert run.returncode == 1 and "Traceback" not in out, out
    assert "failed 2  retried 2" in out
    assert re.search(rf"^errored \(2 trials\): StorageError: cannot save the checkpoint {storage}/s/checkpoints/"
                     rf"<trial key>\.pt: No space left on device \(details: {storage}/s/tune/run-[0-9-]+/"
                     r"<trial key>/error.txt\)$", out, re.M), out
    runs = json.loads((storage / "s" / "sweep.json").read_text())["runs"]
    assert "finished" not in runs[0] and runs[0]["errored"] == 2             # not recorded as finished


def test_two_drivers_of_one_sweep_started_together_run_each_trial_once(tmp_path):
    drivers = [cli("sweep", "teacher_mlp", *SWEEP, "--storage", str(tmp_path), "--name", "race") for _ in range(2)]
    outs = [d.communicate(timeout=600)[0] for d in drivers]
    codes = sorted(d.returncode for d in drivers)
    assert codes == [0, 2], outs
    refused = outs[[d.returncode for d in drivers].index(2)]
    assert "is already running" in refused and len(refused.strip().splitlines()) <= 6   # its plan, then one line
    ran = outs[[d.returncode for d in drivers].index(0)]
    assert "ran 4 trials" in ran
    assert len(finished_keys(str(tmp_path / "race"))) == 4
    runs = (tmp_path / "race" / "tune").glob("run-*")
    assert len(list(runs)) == 1                                                       # one run, one driver
