"""Every bad input is one line naming the thing and the value, exit code 2, and nothing written.

Task files, `--set`, `--grid`, flags, stores and submitted files, through the command line as a user
types them (in this process, for speed; `test_project` runs the CLI as a subprocess).
"""

import gzip
import json
import os
import shutil
import time
from pathlib import Path

import pytest
import yaml

from regclip_bench.cli import main
from regclip_bench.spec import TASKS_DIR

from plugin_sources import TINY
from stores import store_copy

SMALL = ["--grid", "width=8", "--grid", "depth=1", "--optimizers", "sgd", "--seeds", "1"]


def task_file(folder: Path, mutate=None, raw: bytes | None = None) -> str:
    path = folder / "task.yaml"
    if raw is not None:
        path.write_bytes(raw)
    else:
        data = yaml.safe_load((TASKS_DIR / "teacher_mlp.yaml").read_text())
        mutate(data)
        path.write_text(yaml.safe_dump(data))
    return str(path)


def store_with(folder: Path, schema: str) -> str:
    (folder / "store").mkdir()
    (folder / "store" / "_schema.json").write_text(schema)
    return str(folder / "store")


def text_file(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def sweep_folder(folder: Path) -> str:
    (folder / "sw" / "trials").mkdir(parents=True)
    (folder / "sw" / "sweep.json").write_text(json.dumps({"schema": 1, "name": "sw", "sweep_id": "sw-1", "runs": []}))
    return str(folder / "sw")


def submission(folder: Path, **changes) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq
    row = {"sweep_id": "ext-1", "trial_id": "t1", "task": "teacher_mlp", "optimizer": "no_such_optimizer", "seed": 0,
           "status": "completed", "final_loss": 0.1, "steps_to_target": 10.0, "seconds_to_target": 1.0,
           "train_time_s": 2.0, "git_commit": "x", "torch_version": "2", **changes}
    path = folder / "sub.parquet"
    pq.write_table(pa.Table.from_pylist([row]).replace_schema_metadata(
        {b"regclip_bench.schema_version": b"2"}), path)
    return str(path)


GOOD = {"name": "sign", "display_name": "Sign", "optimizer": "optimizer.py:SignSGD", "tuning": {"lr": {"log": [1e-4, 0.1]}}}


def submission_folder(folder: Path, changes=None, raw: str | None = None, code: str = TINY, drop=()) -> str:
    """A submission folder: submission.yaml (GOOD with `changes`, or `raw` text) and optimizer.py."""
    sub = folder / "sub"
    sub.mkdir(exist_ok=True)
    data = {k: v for k, v in {**GOOD, **(changes or {})}.items() if k not in drop}
    (sub / "submission.yaml").write_text(raw if raw is not None else yaml.safe_dump(data))
    (sub / "optimizer.py").write_text(code)
    return str(sub)


def _renamed_partition(name: str):
    def damage(file: Path) -> None:
        file.parent.rename(file.parent.with_name(name))
    return damage


def _truncated(file: Path) -> None:
    file.write_bytes(file.read_bytes()[:1000])


def _a_folder(file: Path) -> None:
    file.unlink()
    file.mkdir()
    (file / "x.parquet").write_bytes(b"")


def _wrong_type(file: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pq.read_table(file)
    index = table.schema.get_field_index("final_loss")
    table = table.set_column(index, "final_loss", pa.array(["abc"] * table.num_rows))
    pq.write_table(table.replace_schema_metadata(pq.read_schema(file).metadata), file)


def corpus(folder: Path, data: bytes, name: str = "corpus.txt") -> list[str]:
    """char_transformer on a text file of `data` (checksum off), as a user points it at their own."""
    (folder / "x" / name).write_bytes(data)
    return ["train", "char_transformer", "--set", f"data.path={folder / 'x' / name}", "--set", "data.sha256=",
            "--set", "steps=1", "--quiet"]


FASHION = Path("/usr/share/datasets/fashion-mnist")   # apt-get install dataset-fashion-mnist (.ci/run does)


def fashion(folder: Path, damage) -> list[str]:
    """fashion_mnist_vae on a copy of the four IDX files with `damage(folder)` done (verification off)."""
    if not FASHION.is_dir():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    copy = folder / "x" / "fm"
    shutil.copytree(FASHION, copy)
    damage(copy)
    return ["train", "fashion_mnist_vae", "--set", f"data.root={copy}", "--set", "data.verify_checksums=false",
            "--set", "epochs=1", "--quiet"]


def _idx(folder: Path, name: str, edit) -> None:
    path = folder / f"{name}.gz"
    path.write_bytes(gzip.compress(edit(gzip.decompress(path.read_bytes()))))


LONG = "a" * 300   # a name longer than any filesystem's 255 bytes


def _width(d, v):
    d["model"]["width"] = v


def _n(d, v):
    d["data"]["n"] = v


# (case name, argv builder taking the test's folder, expected text in the message)
CASES = [
    # task files
    ("task: not UTF-8", lambda f: ["train", task_file(f, raw=b"name: \xff\xfe\n")], "not UTF-8 text (byte 0xff"),
    ("task: width 1e29", lambda f: ["train", task_file(f, lambda d: _width(d, 1e29))], "model.width"),
    ("task: data.n 1e20", lambda f: ["train", task_file(f, lambda d: _n(d, 1e20))], "data.n"),
    ("task: not YAML", lambda f: ["train", task_file(f, raw=b"name: [unclosed\n")], "not valid YAML"),
    ("task: a list", lambda f: ["train", task_file(f, raw=b"- 1\n- 2\n")], "must be a mapping"),
    ("task: unknown field", lambda f: ["train", task_file(f, lambda d: d.update(colour=1))], "colour: unknown field"),
    ("task: headline key", lambda f: ["train", task_file(f, lambda d: d.update(headline=[{"lr": 1}]))],
     "headline[0]: lr is not a workload field"),
    ("task: uniform lr", lambda f: ["sweep", task_file(f, lambda d: d["tuning"]["optimizers"]["sgd"].update(
        lr={"uniform": [0.1, 1.0]})), "--dry-run"], "sgd.lr: give a log range"),
    ("task: a folder", lambda f: ["train", str(f)], "no such task file"),
    ("task: schedule of an unknown optimizer", lambda f: ["train", task_file(f, lambda d: d["defaults"].update(
        schedules={"no_such_optimizer": {"lr_milestones": [5]}}))], "unknown optimizer 'no_such_optimizer'"),
    ("task: schedule decay 2", lambda f: ["train", task_file(f, lambda d: d["defaults"].update(
        schedules={"sgd": {"lr_milestones": [5], "lr_decay": 2}}))], "lr_decay"),
    ("--set pos_embed_size", lambda f: ["train", "cifar10_vit", "--set", "model.pos_embed_size=0"], "model.pos_embed_size"),
    ("--set normalize", lambda f: ["train", "cifar10_vit", "--set", "data.normalize=sometimes"], "data.normalize"),
    ("--set noise=cauchy", lambda f: ["train", "lsq_student_t", "--set", "data.noise=cauchy"], "data.noise"),
    ("--set df=0", lambda f: ["train", "lsq_student_t", "--set", "data.df=0"], "data.df"),
    ("--set batch_size=full on a stream", lambda f: ["train", "lsq_gaussian", "--set", "batch_size=full"],
     "a stream has no epochs and no full batch"),
    ("--set heads=3", lambda f: ["train", "char_transformer", "--set", "model.heads=3"], "not divisible by heads 3"),
    ("--set context=1", lambda f: ["train", "char_transformer", "--set", "data.context=1"], "data.context"),
    ("--set missing corpus", lambda f: ["train", "char_transformer", "--set", f"data.path={f / 'none.txt'}"],
     "not found: install it with `apt-get install dict-jargon`"),
    ("--set sharpness_every=-1", lambda f: ["train", "teacher_mlp_eos", "--set", "budget.sharpness_every=-1"],
     "budget.sharpness_every"),
    ("task: linear width 1024", lambda f: ["train", task_file(f, lambda d: d["model"].update(family="linear"))],
     "model.width: Input should be 0, got 1024"),
    ("task: quick steps 0", lambda f: ["run", task_file(f, lambda d: d["quick_grid"].update(steps=0)), "--dry-run"],
     "quick_grid.steps"),
    ("task: quick hparams of an unlisted optimizer", lambda f: ["run", task_file(f, lambda d: d["quick_grid"].update(
        hparams={"adamw": {"lr": [0.1]}})), "--dry-run"], "hparams.adamw: not one of the quick grid's optimizers"),
    ("task: quick hparams not taken", lambda f: ["run", task_file(f, lambda d: d["quick_grid"].update(
        hparams={"sgd": {"gamma": [0.1]}})), "--dry-run"], "'sgd' does not take gamma"),
    ("task: missing file", lambda f: ["train", str(f / "nope.yaml")], "no such task file"),
    ("task: unknown name", lambda f: ["train", "mnist"], "unknown task 'mnist'"),
    # --set
    ("--set width=1e9", lambda f: ["train", "teacher_mlp", "--set", "width=1000000000"], "model.width"),
    ("--set batch_size=0", lambda f: ["train", "teacher_mlp", "--set", "batch_size=0"],
     "budget.batch_size: Input should be greater than or equal to 1, got 0"),
    ("--set sgd lr=0", lambda f: ["train", "teacher_mlp", "--set", "optimizer=sgd", "--set", "lr=0"], "invalid lr=0"),
    ("--set lr=nan", lambda f: ["train", "teacher_mlp", "--set", "lr=nan"], "invalid lr=nan"),
    ("--set adam lr=inf", lambda f: ["train", "teacher_mlp", "--set", "optimizer=adam", "--set", "lr=inf"],
     "invalid lr=inf"),
    ("--set momentum=1", lambda f: ["train", "digits_mlp", "--set", "optimizer=sgd_momentum", "--set", "lr=0.1",
                                    "--set", "momentum=1"], "momentum"),
    ("--set optimizer=no_such_optimizer", lambda f: ["train", "teacher_mlp", "--set", "optimizer=no_such_optimizer"], "unknown optimizer"),
    ("--set twice", lambda f: ["train", "teacher_mlp", "--set", "lr=1", "--set", "lr=2"], "--set lr: given twice"),
    ("--set seed=-1", lambda f: ["train", "teacher_mlp", "--set", "seed=-1"], "seed=-1"),
    ("--set device=tpu9", lambda f: ["train", "teacher_mlp", "--set", "device=tpu9"], "device='tpu9'"),
    ("--set no equals", lambda f: ["train", "teacher_mlp", "--set", "lr"], "expected KEY=VALUE"),
    ("--set unknown section", lambda f: ["train", "teacher_mlp", "--set", "foo.bar=1"], "unknown section 'foo'"),
    ("--set delta=2", lambda f: ["train", "teacher_mlp", "--set", "delta=2"], "invalid delta=2"),
    # --grid
    ("--grid twice", lambda f: ["sweep", "teacher_mlp", "--grid", "lr=0.1", "--grid", "lr=0.3", "--dry-run"],
     "--grid lr: given twice"),
    ("--grid and --set", lambda f: ["sweep", "teacher_mlp", "--grid", "lr=0.1", "--set", "lr=0.5", "--dry-run"],
     "lr: given by both --grid and --set"),
    ("--grid lr=0.1,abc", lambda f: ["sweep", "teacher_mlp", *SMALL, "--grid", "lr=0.1,abc", "--dry-run"],
     "invalid lr='abc'"),
    ("--grid no values", lambda f: ["sweep", "teacher_mlp", "--grid", "width", "--dry-run"], "expected KEY=V1,V2"),
    ("--grid lr=-1", lambda f: ["sweep", "teacher_mlp", *SMALL, "--grid", "lr=-1", "--dry-run"], "invalid lr=-1"),
    ("--grid with --budget", lambda f: ["sweep", "teacher_mlp", "--budget", "4", "--grid", "lr=0.1", "--dry-run"],
     "--grid lr=…: with --budget"),
    ("--grid width=0", lambda f: ["sweep", "teacher_mlp", "--grid", "width=0", "--dry-run"], "model.width"),
    # flags
    ("--optimizers ''", lambda f: ["sweep", "teacher_mlp", "--optimizers", "", "--dry-run"], "names no optimizer"),
    ("--optimizers no_such_optimizer", lambda f: ["sweep", "teacher_mlp", "--optimizers", "no_such_optimizer", "--dry-run"],
     "unknown optimizer 'no_such_optimizer'"),
    ("--max-failures -1", lambda f: ["sweep", "teacher_mlp", "--max-failures", "-1"], "--max-failures"),
    ("--pack 0", lambda f: ["sweep", "teacher_mlp", "--pack", "0"], "--pack"),
    ("--pack in search mode", lambda f: ["sweep", "teacher_mlp", "--mode", "search", "--pack", "4"],
     "--pack: search mode"),
    ("task: pack 0", lambda f: ["sweep", task_file(f, lambda d: d.update(pack=0)), "--dry-run"], "pack"),
    ("--name traversal", lambda f: ["sweep", "teacher_mlp", "--name", "../../x"], "'../../x': not a valid name"),
    ("--seeds 0", lambda f: ["sweep", "teacher_mlp", "--seeds", "0"], "--seeds"),
    ("--budget 0", lambda f: ["sweep", "teacher_mlp", "--budget", "0"], "--budget"),
    ("search over widths", lambda f: ["sweep", "teacher_mlp", "--mode", "search", "--grid", "width=16,32", "--dry-run"],
     "--grid width=…: search mode tunes one workload"),
    ("--budget, no ranges", lambda f: ["sweep", task_file(f, lambda d: d.pop("tuning")), "--budget", "3", "--dry-run"],
     "declares no tuning ranges"),
    ("task: report_seeds 1", lambda f: ["sweep", task_file(f, lambda d: d["tuning"].update(report_seeds=1)),
                                       "--budget", "3", "--dry-run"], "tuning.report_seeds"),
    ("task: report_seeds 10000", lambda f: ["sweep", task_file(f, lambda d: d["tuning"].update(report_seeds=10_000)),
                                           "--budget", "3", "--dry-run"], "tuning.report_seeds"),
    ("task: report_seeds text", lambda f: ["sweep", task_file(f, lambda d: d["tuning"].update(report_seeds="ten")),
                                          "--budget", "3", "--dry-run"], "tuning.report_seeds"),
    ("--no-held-out without --budget", lambda f: ["sweep", "teacher_mlp", "--no-held-out", "--dry-run"],
     "--no-held-out: held-out seeds belong to budgeted tuning"),
    ("--cpus-per-trial 0", lambda f: ["sweep", "teacher_mlp", "--cpus-per-trial", "0"], "--cpus-per-trial"),
    ("--address bad port", lambda f: ["sweep", "teacher_mlp", *SMALL, "--address", "not-a-host:xyz"],
     "--address 'not-a-host:xyz': expected auto or HOST:PORT"),
    ("--address unknown host", lambda f: ["sweep", "teacher_mlp", *SMALL, "--address", "no-such-host.invalid:6379"],
     "unknown host 'no-such-host.invalid'"),
    ("--address nothing there", lambda f: ["sweep", "teacher_mlp", *SMALL, "--address", "127.0.0.1:1"],
     "--address 127.0.0.1:1: no Ray cluster answers there"),
    ("query --status bogus", lambda f: ["query", "--status", "bogus"], "invalid choice: 'bogus'"),
    ("train --out csv", lambda f: ["train", "teacher_mlp", "--out", str(f / "x.csv")], "must end in .parquet"),
    ("leaderboard --max-rows 0", lambda f: ["leaderboard", "--out", str(f / "o"), "--max-rows", "0"], "--max-rows"),
    ("no such command", lambda f: ["frobnicate"], "invalid choice: 'frobnicate'"),
    # stores
    ("query a file", lambda f: ["query", "/etc/hostname"], "/etc/hostname: cannot be a store"),
    ("query missing store", lambda f: ["query", str(f / "none")], "not a regclip-bench store"),
    ("query garbage schema", lambda f: ["query", store_with(f, "{{{")], "_schema.json: not a regclip-bench store"),
    ("query --format xml", lambda f: ["query", "--format", "xml"], "invalid choice: 'xml'"),
    ("sweep: --cuda-graph without GPUs", lambda f: ["sweep", "teacher_mlp", "--cuda-graph", "--dry-run"],
     "--cuda-graph: CUDA graphs need GPUs; give --gpus-per-trial"),
    ("train: --cuda-graph on a CPU", lambda f: ["train", "teacher_mlp", "--cuda-graph", "--set", "device=cpu"],
     "--cuda-graph: CUDA graphs need a CUDA device; this trial's is cpu"),
    ("sweep: --pack 0 on GPUs", lambda f: ["sweep", "fashion_mnist_vae", "--gpus-per-trial", "0.25", "--pack", "0",
                                          "--dry-run"], "--pack"),
    ("query version 99", lambda f: ["query", store_with(f, '{"schema_version": 99}')], "store of schema version 99"),
    ("migrate: no store", lambda f: ["migrate", str(f / "none"), "--into", str(f / "new")], "not a regclip-bench store"),
    ("migrate: a version-2 store", lambda f: ["migrate", store_with(f, '{"schema_version": 2}'), "--into", str(f / "new")],
     "only version 1 is migrated"),
    ("migrate: --into a file", lambda f: ["migrate", store_with(f, '{"schema_version": 1}'), "--into",
                                          text_file(f / "file", "x")], "--into"),
    ("aggregate into a file", lambda f: ["aggregate", sweep_folder(f), "--into", "/etc/hostname"],
     "/etc/hostname is a file, not a folder"),
    ("aggregate a non-sweep", lambda f: ["aggregate", str(f), "--into", str(f / "st")], "not a sweep (no sweep.json)"),
    ("report missing store", lambda f: ["report", str(f / "none"), "--out", str(f / "o")], "not a regclip-bench store"),
    # submission folders (optimizers as code): one line naming the file and the field
    ("submit: no folder", lambda f: ["submit", str(f / "none")], "not a submission folder"),
    ("submit: no yaml", lambda f: ["submit", str(f / "x")], "submission.yaml: missing"),
    ("submit: not YAML", lambda f: ["submit", submission_folder(f, raw="name: [unclosed\n")], "not valid YAML"),
    ("submit: a list", lambda f: ["submit", submission_folder(f, raw="- 1\n")], "must be a mapping"),
    ("submit: unknown field", lambda f: ["submit", submission_folder(f, {"colour": 1})], "colour: unknown field"),
    ("submit: no tuning", lambda f: ["submit", submission_folder(f, drop=("tuning",))], "tuning: Field required"),
    ("submit: empty tuning", lambda f: ["submit", submission_folder(f, {"tuning": {}})], "tuning"),
    ("submit: built-in name", lambda f: ["submit", submission_folder(f, {"name": "sgd"})],
     "'sgd' is a built-in optimizer's name"),
    ("submit: bad name", lambda f: ["submit", submission_folder(f, {"name": "../x"})], "name"),
    ("submit: no such file", lambda f: ["submit", submission_folder(f, {"optimizer": "other.py:Sign"})],
     "other.py: no such file"),
    ("submit: file outside", lambda f: ["submit", submission_folder(f, {"optimizer": "../optimizer.py:Sign"})],
     "optimizer: String should match pattern"),
    ("submit: no such class", lambda f: ["submit", submission_folder(f, {"optimizer": "optimizer.py:Missing"})],
     "has no Missing"),
    ("submit: import error", lambda f: ["submit", submission_folder(f, code="import no_such_module_here\n")],
     "importing it raised ModuleNotFoundError"),
    ("submit: syntax error", lambda f: ["submit", submission_folder(f, code="def broken(:\n")],
     "line 1: importing it raised SyntaxError"),
    ("submit: raises at import", lambda f: ["submit", submission_folder(f, code="raise RuntimeError('no')\n")],
     "importing it raised RuntimeError: no"),
    ("submit: not an optimizer", lambda f: ["submit", submission_folder(f, {"optimizer": "optimizer.py:NotAnOptimizer"})],
     "NotAnOptimizer is a class but not a torch.optim.Optimizer"),
    ("submit: factory returns 3", lambda f: ["submit", submission_folder(f, {"optimizer": "optimizer.py:not_an_optimizer"})],
     "returned a int, not a torch.optim.Optimizer"),
    ("submit: needs a closure", lambda f: ["submit", submission_folder(f, {"optimizer": "optimizer.py:NeedsClosure"})],
     "requires a closure"),
    ("submit: hooks.closure", lambda f: ["submit", submission_folder(f, {"hooks": {"closure": True}})],
     "hooks.closure"),
    ("submit: package missing", lambda f: ["submit", submission_folder(f, {"optimizer": "no_such_pkg:Opt"})],
     "cannot import no_such_pkg"),
    ("submit: tuned name not taken", lambda f: ["submit", submission_folder(f, {"tuning": {"gamma": {"log": [0.1, 1]}}})],
     "tuning.gamma: the optimizer does not take gamma"),
    ("submit: fixed name not taken", lambda f: ["submit", submission_folder(f, {"hyperparameters": {"momentum": 0.9}})],
     "does not take momentum"),
    ("submit: tuned and fixed", lambda f: ["submit", submission_folder(f, {"hyperparameters": {"lr": 0.1}})],
     "lr: both tuned and fixed"),
    ("submit: empty range", lambda f: ["submit", submission_folder(f, {"tuning": {"lr": {"log": [0.1, 0.1]}}})],
     "the low end must be below the high end"),
    ("submit: infinite range", lambda f: ["submit", submission_folder(f, {"tuning": {"lr": {"log": [0.1, "inf"]}}})],
     "tuning.lr"),
    ("submit: NaN range", lambda f: ["submit", submission_folder(f, raw=yaml.safe_dump(GOOD).replace("0.1", ".nan"))],
     "tuning.lr"),
    ("submit: negative log range", lambda f: ["submit", submission_folder(f, {"tuning": {"lr": {"log": [-1, 0.1]}}})],
     "tuning.lr"),
    ("submit: uniform lr", lambda f: ["submit", submission_folder(f, {"tuning": {"lr": {"uniform": [0.01, 0.1]}}})],
     "tuning.lr: give a log range"),
    ("submit: range past the vocabulary's", lambda f: ["submit", submission_folder(
        f, {"tuning": {"lr": {"log": [1e-3, 0.1]}, "weight_decay": {"uniform": [-1.0, 0.1]}}})],
     "tuning.weight_decay: invalid weight_decay=-1.0"),
    ("submit: bad fixed value", lambda f: ["submit", submission_folder(f, {"hyperparameters": {"weight_decay": -1}})],
     "invalid weight_decay=-1"),
    ("submit: unknown task", lambda f: ["submit", submission_folder(f), "--tasks", "imagenet"], "unknown task 'imagenet'"),
    ("submit: budget 0", lambda f: ["submit", submission_folder(f), "--budget", "0"], "--budget"),
    ("submit: --pack", lambda f: ["submit", submission_folder(f), "--pack", "4"], "unrecognized arguments: --pack"),
    ("submit: time limit 0", lambda f: ["submit", submission_folder(f), "--trial-time-limit", "0"], "--trial-time-limit"),
    ("submit: --set a hyperparameter", lambda f: ["submit", submission_folder(f), "--set", "lr=0.1"],
     "--set lr: a submission's hyperparameters come from its tuning ranges"),
    ("submit: --set unknown field", lambda f: ["submit", submission_folder(f), "--set", "colour=3"], "colour"),
    ("submit: --set no value", lambda f: ["submit", submission_folder(f), "--set", "epochs"], "expected KEY=VALUE"),
    # submissions
    ("--add missing file", lambda f: ["leaderboard", store_with(f, '{"schema_version": 2}'), "--out", str(f / "o"),
                                      "--add", str(f / "none.parquet")], "not a readable Parquet file"),
    ("--add not parquet", lambda f: ["leaderboard", store_with(f, '{"schema_version": 2}'), "--out", str(f / "o"),
                                     "--add", text_file(f / "sub.parquet", "not a table")],
     "not a readable Parquet file"),
    ("--add traversal", lambda f: ["leaderboard", store_with(f, '{"schema_version": 2}'), "--out", str(f / "o"),
                                   "--add", submission(f, sweep_id="../../../x")], "sweep_id '../../../x'"),
    ("--add zero time", lambda f: ["leaderboard", store_with(f, '{"schema_version": 2}'), "--out", str(f / "o"),
                                   "--add", submission(f, seconds_to_target=0.0)], "seconds_to_target 0.0"),

    # --- hardening II (issue 30) ---
    # 1. names read from a store are names: an encoded '..' in a partition never becomes a path
    ("store: ../ in a partition (report)", lambda f: ["report", store_copy(f, _renamed_partition(
        "task=..%2F..%2F..%2Fpwned")), "--out", str(f / "x" / "o")], "not a task=<name> folder"),
    ("store: ../ in a partition (leaderboard)", lambda f: ["leaderboard", store_copy(f, _renamed_partition(
        "task=..%2F..%2Fpwned")), "--out", str(f / "x" / "o"), "--reports"], "not a task=<name> folder"),
    ("store: ../ in a partition (query)", lambda f: ["query", store_copy(f, _renamed_partition(
        "task=..%2Fx%2F..%2F..%2Fpwned"))], "not a task=<name> folder"),
    ("store: a partition of another key", lambda f: ["query", store_copy(f, _renamed_partition("optimizer=sgd"))],
     "not a task=<name> folder"),
    ("store: a sweep file not named as a sweep id", lambda f: ["query", store_copy(f, lambda p: p.rename(
        p.with_name("a b;c.parquet")))], "not a <sweep id>.parquet file"),
    # 2. submitted numbers: every column in its range, finite where the suite never writes non-finite
    *[(f"--add {column} {value}", lambda f, c=column, v=value: [
        "leaderboard", store_with(f, '{"schema_version": 2}'), "--out", str(f / "o"),
        "--add", submission(f, **{c: v})], f"{column} {value!r} {expected}")
      for column, value, expected in [
          ("wall_time_s", float("nan"), "must be a number"), ("best_loss", float("inf"), "must be finite"),
          ("initial_loss", float("nan"), "must be a number"), ("initial_loss", -1e9, "must be >= 0"),
          ("min_pl_ratio", float("nan"), "must be a number"), ("w0_norm", float("inf"), "must be finite"),
          ("frac_clipped", 2.0, "must be in [0, 1]"), ("lr", float("nan"), "must be a number"),
          ("final_loss", float("inf"), "must be finite"), ("pack_train_time_s", -1.0, "must be > 0"),
          ("seed", 2**40, "must be <= 2,147,483,647"), ("width", 10**6, "must be <= 65,536"),
          ("loss_log_slope", float("inf"), "must be finite"), ("max_dist_from_init", -1.0, "must be >= 0"),
          ("final_test_loss", float("-inf"), "must be finite")]],
    ("--add config_json a list", lambda f: ["leaderboard", store_with(f, '{"schema_version": 2}'), "--out",
                                            str(f / "o"), "--add", submission(f, config_json="[1, 2]")],
     "not a JSON object"),
    ("--add config_json 100,000 deep", lambda f: ["leaderboard", store_with(f, '{"schema_version": 2}'), "--out",
                                                  str(f / "o"), "--add", submission(f, config_json="[" * 100_000 + "]" * 100_000)],
     "more than 4,096"),
    ("--add config_json 2,000 deep", lambda f: ["leaderboard", store_with(f, '{"schema_version": 2}'), "--out",
                                                str(f / "o"), "--add", submission(f, config_json="[" * 2000 + "]" * 2000)],
     "not JSON"),
    ("--add config_json nested", lambda f: ["leaderboard", store_with(f, '{"schema_version": 2}'), "--out",
                                            str(f / "o"), "--add", submission(f, config_json='{"lr": {"a": 1}}')],
     "'lr' is not a number"),
    ("--add a 65,536-wide model of 289 parameters", lambda f: [
        "leaderboard", store_with(f, '{"schema_version": 2}'), "--out", str(f / "o"), "--add",
        submission(f, optimizer="sgd", width=65536, param_count=289, config_json=json.dumps(
            {"task": "teacher_mlp", "optimizer": "sgd", "width": 65536, "depth": 2, "lr": 0.1, "seed": 0}))],
     "param_count 289 is not its model's"),
    ("--add --max-rows 2,000,000", lambda f: ["leaderboard", store_with(f, '{"schema_version": 2}'), "--out",
                                              str(f / "o"), "--add", submission(f), "--max-rows", "2000000"],
     "--max-rows"),
    # 3. data files: one line naming the file and what is wrong
    ("data: corrupt gzip text", lambda f: corpus(f, b"\x1f\x8b\x08\x00garbage" * 10, "corpus.txt.gz"), "cannot be read"),
    ("data: truncated gzip text", lambda f: corpus(f, gzip.compress(os.urandom(4096))[:2000], "corpus.txt.gz"),
     "cannot be read"),
    ("data: text not UTF-8", lambda f: corpus(f, b"abc\xff\xfe" * 1000), "not UTF-8 text (byte 0xff at offset 3)"),
    ("data: empty text", lambda f: corpus(f, b""), "0 characters, too short"),
    ("data: too short a text", lambda f: corpus(f, b"a" * 100), "100 characters, too short for data.context 64"),
    ("data: IDX truncated gzip", lambda f: fashion(f, lambda d: (d / "t10k-labels-idx1-ubyte.gz").write_bytes(
        (d / "t10k-labels-idx1-ubyte.gz").read_bytes()[:3000])), "t10k-labels-idx1-ubyte.gz: cannot be read"),
    ("data: IDX not gzip", lambda f: fashion(f, lambda d: (d / "t10k-labels-idx1-ubyte.gz").write_bytes(
        b"hello world")), "cannot be read (Not a gzipped file"),
    ("data: IDX empty", lambda f: fashion(f, lambda d: _idx(d, "t10k-labels-idx1-ubyte", lambda raw: b"")),
     "not an IDX file of n labels (0 bytes"),
    ("data: IDX header lies", lambda f: fashion(f, lambda d: _idx(
        d, "t10k-images-idx3-ubyte", lambda raw: raw[:4] + (20000).to_bytes(4, "big") + raw[8:])),
     "not an IDX file of n × 28 × 28 images"),
    ("data: IDX of another type", lambda f: fashion(f, lambda d: _idx(
        d, "t10k-labels-idx1-ubyte", lambda raw: raw[:2] + b"\x0d" + raw[3:])), "not an IDX file of n labels"),
    ("data: IDX labels fewer than images", lambda f: fashion(f, lambda d: _idx(
        d, "t10k-labels-idx1-ubyte", lambda raw: raw[:4] + (9999).to_bytes(4, "big") + raw[8:8 + 9999])),
     "10,000 images and t10k-labels 9,999 labels"),
    # 4. paths and filesystem state, checked before any work starts
    ("path: --storage too long", lambda f: ["sweep", "teacher_mlp", *SMALL, "--storage", str(f / LONG)],
     "--storage '"),
    ("path: --store too long", lambda f: ["sweep", "teacher_mlp", *SMALL, "--store", str(f / LONG)],
     "--store '"),
    ("path: --store too long below", lambda f: ["sweep", "teacher_mlp", *SMALL, "--store", str(f / "ok" / LONG / "x")],
     "longer than the filesystem allows"),
    ("path: run --out too long", lambda f: ["run", "teacher_mlp", "--out", str(f / LONG)], "--out '"),
    ("path: report --out too long", lambda f: ["report", store_copy(f), "--out", str(f / LONG)], "--out '"),
    ("path: leaderboard --out too long", lambda f: ["leaderboard", store_copy(f), "--out", str(f / LONG)], "--out '"),
    ("path: aggregate --into too long", lambda f: ["aggregate", sweep_folder(f), "--into", str(f / LONG)], "--into '"),
    ("path: train --out too long", lambda f: ["train", "teacher_mlp", "--out", str(f / (LONG + ".parquet"))], "--out '"),
    ("path: data.root too long", lambda f: ["train", "fashion_mnist_vae", "--set", f"data.root={f / LONG}"],
     "data.root: longer than the filesystem allows"),
    ("path: data.path too long", lambda f: ["train", "char_transformer", "--set", f"data.path={f / LONG}"],
     "data.path: longer than the filesystem allows"),
    ("path: report --out a file", lambda f: ["report", store_copy(f), "--out", text_file(f / "file", "x")],
     "is a file, not a folder"),
    ("path: leaderboard --out a file", lambda f: ["leaderboard", store_copy(f), "--out", text_file(f / "file", "x")],
     "is a file, not a folder"),
    ("path: --store a file", lambda f: ["sweep", "teacher_mlp", *SMALL, "--store", text_file(f / "file", "x")],
     "is a file, not a folder"),
    ("path: --storage a file", lambda f: ["sweep", "teacher_mlp", *SMALL, "--storage", text_file(f / "file", "x")],
     "is a file, not a folder"),
    ("path: --storage below a file", lambda f: ["sweep", "teacher_mlp", *SMALL, "--storage",
                                                text_file(f / "file", "x") + "/sweeps"], "is a file, not a folder"),
    ("path: a store table that is a file", lambda f: ["aggregate", sweep_folder(f), "--into", store_copy(
        f, lambda p: (shutil.rmtree(p.parents[2] / "steps", ignore_errors=True),
                      (p.parents[2] / "steps").write_text("x")))], "steps is a file, not a folder"),
    ("store: a column of the wrong type", lambda f: ["query", store_copy(f, _wrong_type)],
     "column final_loss is string, not double"),
    # 5. requests that could never run, and plans that would never end
    ("--cpus-per-trial 1000", lambda f: ["sweep", "teacher_mlp", *SMALL, "--cpus-per-trial", "1000"],
     "--cpus-per-trial 1000: no node of this machine"),
    ("--cpus-per-trial inf", lambda f: ["sweep", "teacher_mlp", *SMALL, "--cpus-per-trial", "inf"],
     "argument --cpus-per-trial: expected a number > 0, got 'inf'"),
    ("--gpus-per-trial 64", lambda f: ["sweep", "teacher_mlp", *SMALL, "--gpus-per-trial", "64"],
     "--gpus-per-trial 64: no node of this machine"),
    ("--gpus-per-trial inf", lambda f: ["sweep", "teacher_mlp", *SMALL, "--gpus-per-trial", "inf"],
     "argument --gpus-per-trial"),
    ("run --gpus-per-trial 64", lambda f: ["run", "teacher_mlp", "--gpus-per-trial", "64", "--out", str(f / "o")],
     "no node of this machine"),
    ("submit --cpus-per-trial 4096", lambda f: ["submit", submission_folder(f), "--tasks", "lsq_gaussian",
                                                "--cpus-per-trial", "4096"], "no node of this machine"),
    ("--budget 10,000,000", lambda f: ["sweep", "teacher_mlp", "--budget", "10000000", "--dry-run"],
     "argument --budget: expected an integer > 0 and <= 10,000"),
    ("--budget 1e18", lambda f: ["sweep", "teacher_mlp", "--budget", "1000000000000000000", "--dry-run"],
     "argument --budget"),
    ("submit --budget 10,000,000", lambda f: ["submit", submission_folder(f), "--budget", "10000000", "--dry-run"],
     "argument --budget"),
    ("--samples 1e9", lambda f: ["sweep", "teacher_mlp", "--mode", "search", "--samples", "1000000000", "--dry-run"],
     "argument --samples"),
    ("--seeds 1e9", lambda f: ["sweep", "teacher_mlp", "--seeds", "1000000000", "--dry-run"], "argument --seeds"),
    ("a grid of 144 million trials", lambda f: ["sweep", "teacher_mlp", "--optimizers", "gclip", "--grid", "lr=" + ",".join(
        f"{0.001 * i:.3f}" for i in range(1, 301)), "--grid", "gamma=" + ",".join(f"{0.001 * i:.3f}" for i in range(1, 301)),
        "--dry-run"], "more than 100,000"),
    ("--trial-time-limit inf", lambda f: ["sweep", "teacher_mlp", "--trial-time-limit", "inf", "--dry-run"],
     "argument --trial-time-limit"),
    # 6. silent nonsense
    ("--grid gamma for SGD", lambda f: ["sweep", "teacher_mlp", "--optimizers", "sgd", "--grid", "gamma=0.1,0.3",
                                        "--dry-run"], "--grid gamma=…: no optimizer of this sweep takes gamma"),
    ("--grid momentum for Adam", lambda f: ["sweep", "teacher_mlp", "--optimizers", "adam", "--grid", "momentum=0.9",
                                            "--dry-run"], "no optimizer of this sweep takes momentum"),
    ("--set gamma in a sweep of SGD", lambda f: ["sweep", "teacher_mlp", "--optimizers", "sgd", "--set", "gamma=0.1",
                                                 "--dry-run"], "--set gamma=…: no optimizer of this sweep takes gamma"),
    ("search --grid delta for Adam", lambda f: ["sweep", "teacher_mlp", "--mode", "search", "--optimizers", "adam",
                                                "--grid", "delta=0.1,0.2", "--dry-run"], "no optimizer of this sweep takes delta"),
    ("--set data.df=1e-300", lambda f: ["train", "lsq_student_t", "--set", "data.df=1e-300"],
     "data.df: Input should be greater than or equal to 1"),
    ("--set target.value=nan", lambda f: ["train", "teacher_mlp", "--set", "target.value=nan"],
     "target.value: Input should be a finite number"),
    ("--set target.value=-inf", lambda f: ["train", "teacher_mlp", "--set", "target.value=-inf"], "target.value"),
    ("task: target value .inf", lambda f: ["train", task_file(f, lambda d: d["target"].update(value=float("inf")))],
     "target.value"),
    ("--sequence-seed -1", lambda f: ["sweep", "teacher_mlp", "--budget", "2", "--sequence-seed", "-1", "--dry-run"],
     "argument --sequence-seed"),
    ("--sequence-seed 2**70", lambda f: ["sweep", "teacher_mlp", "--budget", "2", "--sequence-seed", str(2**70),
                                         "--dry-run"], "argument --sequence-seed"),
    ("demo --seed 1e26", lambda f: ["demo", "--seed", "100000000000000000000000000", "--steps", "1"],
     "seed=100000000000000000000000000: must be an integer from 0 to 2147483647"),
    ("--set seed 2**40", lambda f: ["train", "teacher_mlp", "--set", f"seed={2**40}"], "must be an integer from 0"),
    ("--grid seed 1e26", lambda f: ["sweep", "teacher_mlp", "--grid", "seed=100000000000000000000000000", "--dry-run"],
     "must be an integer from 0"),
    ("task: data seed 2**40", lambda f: ["train", task_file(f, lambda d: d["data"].update(seed=2**40))], "data.seed"),
]


@pytest.mark.parametrize("name, argv, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(name, argv, expected, tmp_path, monkeypatch, capsys):
    (tmp_path / "x").mkdir()
    args = argv(tmp_path)
    if args[0] in ("sweep", "run", "submit"):   # the test's own folders, unless the case is about them
        args += [] if "--storage" in args else ["--storage", str(tmp_path / "sweeps")]
        args += [] if "--store" in args else ["--store", str(tmp_path / "store-out")]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    start = time.monotonic()
    try:
        code = main(args)
    except SystemExit as exc:   # argparse's own errors
        code = exc.code
    seconds = time.monotonic() - start
    out = capsys.readouterr()
    assert code == 2, (out.out, out.err)
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], out.err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in out.err + out.out
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before   # nothing written
    assert seconds < 30


def test_the_battery_covers_every_kind_of_input():
    kinds = {name.split(":")[0].split(" ")[0] for name, _, _ in CASES}
    assert len(CASES) >= 174   # 114 before issue 30, which asked for at least 60 more
    assert {"task", "--set", "--grid", "--add", "query", "aggregate", "submit", "store", "data", "path"} <= kinds
