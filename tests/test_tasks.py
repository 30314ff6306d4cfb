"""Task files and --set values: every shipped file validates, bad input is named and refused."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from regclip_bench.config import parse_assignments, resolve_trial
from regclip_bench.errors import ConfigError
from regclip_bench.spec import TASKS_DIR, load_task, task_names

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ["char_transformer", "cifar10_resnet18", "cifar10_vit", "digits_mlp", "fashion_mnist_vae", "lsq_gaussian",
           "lsq_student_t", "teacher_mlp", "teacher_mlp_eos"]


def test_every_shipped_task_validates():
    assert task_names() == SHIPPED
    for name in SHIPPED:
        task = load_task(name)
        assert task.name == name and task.source.strip()
        assert task.defaults.optimizer in task.search_space.optimizers


def test_paper_tasks_are_set_as_the_papers_code_runs_them():
    resnet = load_task("cifar10_resnet18")
    assert resnet.defaults.hparams["delta_gclip"] == {"lr": 5.0, "gamma": 0.25, "delta": 1e-3}
    assert resnet.search_space.optimizers["delta_gclip"]["delta"] == [1e-3, 1e-8]     # both runs
    assert resnet.defaults.hparams["sgd"] == {"lr": 1.0} and resnet.defaults.hparams["adam"] == {"lr": 1e-4}
    assert (resnet.budget.batch_size, resnet.budget.epochs, resnet.budget.lr_milestones) == (512, 200, [100, 150])
    assert resnet.defaults.schedules == {} and (resnet.data.augment, resnet.data.normalize) == ("crop_flip", True)
    vae = load_task("fashion_mnist_vae")
    assert vae.defaults.hparams["delta_gclip"] == {"lr": 1e-3, "gamma": 200.0, "delta": 0.1}
    assert (vae.budget.batch_size, vae.budget.epochs, vae.model.depth, vae.budget.lr_milestones) == (100, 200, 2, [])
    assert {name: s.lr_milestones for name, s in vae.defaults.schedules.items()} == {
        "delta_gclip": [99, 149], "gclip": [99, 149]}                               # not Adam, not SGD
    vit = load_task("cifar10_vit")
    assert vit.defaults.hparams["delta_gclip"] == {"lr": 0.2, "gamma": 1.0, "delta": 1e-3}
    assert vit.defaults.hparams["adam"] == {"lr": 5e-4, "weight_decay": 1e-5}
    assert (vit.data.image_size, vit.data.crop_scale, vit.budget.batch_size) == (64, (0.05, 1.0), 64)
    assert (vit.data.augment, vit.data.normalize, vit.model.pos_embed_size) == ("resized_crop", False, 224)


def test_an_optimizers_own_schedule_is_part_of_its_configuration(tmp_path):
    from regclip_bench.identity import trial_identity
    from regclip_bench.trial import run_trial
    path = write_task(tmp_path, lambda raw: raw["defaults"].update(schedules={"gclip": {"lr_milestones": [5], "lr_decay": 0.5}}))
    task = load_task(path)
    lrs = {name: [r["lr"] for r in run_trial(resolve_trial(task, {"optimizer": name, "steps": 10, "width": 8,
                                                                   "log_every": 1}))["steps"]]
           for name in ("gclip", "sgd")}
    assert lrs["gclip"] == [0.5] * 5 + [0.25] * 5 and lrs["sgd"] == [0.5] * 10
    plain, scheduled = (trial_identity(resolve_trial(t, {"optimizer": "gclip"})) for t in (load_task("teacher_mlp"), task))
    assert plain["workload_key"] == scheduled["workload_key"] and plain["config_key"] != scheduled["config_key"]


def write_task(tmp_path, mutate) -> Path:
    raw = yaml.safe_load((TASKS_DIR / "teacher_mlp.yaml").read_text())
    mutate(raw)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _set(path, value):
    def mutate(raw):
        node = raw
        for key in path[:-1]:
            node = node[key]
        if value is KeyError:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return mutate


BAD_FILES = [
    (_set(["model", "width"], -4), "model.width", "-4"),
    (_set(["model", "activation"], "swish"), "model.activation", "'swish'"),
    (_set(["model", "family"], "transformer"), "model", "transformer"),
    (_set(["data", "source"], "imagenet"), "data", "imagenet"),
    (_set(["loss"], "msee"), "loss", "'msee'"),
    (_set(["budget", "batch_size"], 0), "budget.batch_size", "0"),
    (_set(["budget", "epochs"], 3), "budget", "exactly one of steps and epochs"),
    (_set(["target", "direction"], "up"), "target.direction", "'up'"),
    (_set(["search_space", "optimizers", "adam", "gamma"], [1.0]), "search_space.optimizers", "'adam' does not take gamma"),
    (_set(["defaults", "hparams", "no_such_optimizer"], {"lr": 1.0}), "defaults", "unknown optimizer 'no_such_optimizer'"),
    (_set(["model", "colour"], "red"), "model.colour", "unknown field"),
    (_set(["description"], KeyError), "description", "Field required"),
    (_set(["data", "n"], "many"), "data.n", "'many'"),
    (_set(["target", "score"], "fastest"), "target.score", "'fastest'"),
    (_set(["headline"], [{"colour": 1}]), "headline[0]", "colour"),
    (_set(["headline"], [{"width": -2}]), "headline[0]", "model.width"),
    (_set(["headline"], []), "headline", "[]"),
    (_set(["tuning", "optimizers", "sgd", "lr"], {"uniform": [0.1, 1.0]}), "tuning.optimizers", "sgd.lr: give a log range"),
    (_set(["tuning", "optimizers", "sgd", "lr"], {"log": [1.0, 0.1]}), "tuning.optimizers", "range [1.0, 0.1]"),
    (_set(["tuning", "optimizers", "sgd", "lr"], {"log": [0.0, 1.0]}), "tuning.optimizers", "0.0"),
    (_set(["tuning", "optimizers", "adam", "gamma"], {"log": [0.1, 1.0]}), "tuning.optimizers", "'adam' does not take gamma"),
    (_set(["tuning", "optimizers", "delta_gclip"], {"lr": {"log": [0.1, 1.0]}}), "tuning.optimizers", "'delta_gclip' needs gamma, delta"),
]


@pytest.mark.parametrize("mutate, field, value", BAD_FILES)
def test_bad_task_file_names_file_field_and_value(tmp_path, mutate, field, value):
    path = write_task(tmp_path, mutate)
    with pytest.raises(ConfigError) as info:
        load_task(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {field}")
    assert value in message and "\n" not in message


def test_not_yaml_and_not_a_mapping(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: not valid YAML \(line 2\)"):
        load_task(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_task(listing)


def test_unknown_task_name_lists_shipped_ones():
    with pytest.raises(ConfigError, match="unknown task 'mnist'; shipped tasks: char_transformer, cifar10_resnet18"):
        load_task("mnist")


BAD_SETS = [
    (["lr=-1"], "invalid lr=-1"),
    (["delta=2"], "invalid delta=2"),
    (["optimizer=adam", "gamma=1"], "gamma=1: optimizer 'adam' does not take gamma"),
    (["optimizer=no_such_optimizer"], "optimizer='no_such_optimizer': unknown optimizer"),
    (["width=0"], "model.width"),
    (["batch_size=-3"], "budget.batch_size"),
    (["steps=ten"], "budget.steps"),
    (["colour=red"], "colour='red': unknown key"),
    (["seed=-1"], "seed=-1: must be an integer from 0 to 2147483647"),
    (["device=tpu9"], "device='tpu9'"),
    (["data.n=0"], "data.n"),
    (["noequals"], "expected KEY=VALUE"),
]


@pytest.mark.parametrize("pairs, expected", BAD_SETS)
def test_bad_set_values_are_named(pairs, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        resolve_trial(load_task("teacher_mlp"), parse_assignments(pairs))


def test_set_overrides_budget_model_and_hyperparameters():
    config = resolve_trial(load_task("digits_mlp"), parse_assignments(
        ["optimizer=sgd_momentum", "lr=0.02", "momentum=0.5", "steps=7", "batch_size=full",
         "width=32", "data.test_fraction=0.5", "seed=3"]))
    assert config.optimizer == "sgd_momentum" and config.hparams == {"lr": 0.02, "momentum": 0.5,
                                                                                  "nesterov": False, "weight_decay": 0.0}
    assert config.task.budget.steps == 7 and config.task.budget.epochs is None
    assert config.task.budget.batch_size == "full" and config.task.model.width == 32
    assert config.task.data.test_fraction == 0.5 and config.seed == 3


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "regclip_bench.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)


def test_cli_bad_task_file_exits_2_with_one_line_and_writes_nothing(tmp_path):
    path = write_task(tmp_path, _set(["model", "width"], -4))
    out = tmp_path / "out.parquet"
    done = run_cli("train", str(path), "--out", str(out))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "model.width" in done.stderr and "-4" in done.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [path]


def test_cli_bad_set_exits_2():
    done = run_cli("train", "teacher_mlp", "--set", "lr=-1")
    assert done.returncode == 2 and "invalid lr=-1" in done.stderr


def test_cli_lists_tasks_one_line_each():
    done = run_cli("tasks")
    assert done.returncode == 0
    lines = done.stdout.strip().splitlines()
    assert lines[0].split()[0] == "TASK" and [line.split()[0] for line in lines[1:]] == SHIPPED
