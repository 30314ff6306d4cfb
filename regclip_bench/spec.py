"""Task files: `regclip_bench/tasks/<name>.yaml` (package data) → a validated `TaskSpec`.

A task fixes the problem (model family, data, loss, budget, target) and proposes a default
search space; a trial picks one configuration of it (see `config.py`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, ValidationError,
                      field_validator, model_validator)

from .errors import ConfigError, check_path, unknown
from .kinds import KINDS, METRICS
from .optim.base import log_scaled
from .optim.registry import lookup

TASKS_DIR = Path(__file__).resolve().parent / "tasks"   # package data: the same from a wheel


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Upper bounds far beyond any model or dataset this suite trains, so that a typo (width: 1e29)
# is a one-line error, not an allocation failure.
Width = Annotated[int, Field(ge=1, le=65_536)]
Depth = Annotated[int, Field(ge=1, le=1_024)]
Count = Annotated[int, Field(ge=1, le=10_000_000)]
Steps = Annotated[int, Field(ge=1, le=1_000_000_000)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


def _fits_filesystem(path: str) -> str:
    try:
        return check_path("path", path)
    except ConfigError as exc:
        raise ValueError(str(exc).split(": ", 1)[1]) from None


LocalPath = Annotated[str, AfterValidator(_fits_filesystem)]   # a file or folder the filesystem can name
# A random seed: torch, numpy and Python take it (numpy's legacy seeding stops at 2**32 − 1).
MAX_SEED = 2**31 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


# --- models -------------------------------------------------------------------------------

class MLPSpec(_Strict):
    family: Literal["mlp"]
    width: Width
    depth: Depth
    activation: Literal["relu", "tanh", "gelu", "softplus"] = "relu"
    parameterization: Literal["standard", "ntk"] = "standard"


class ResNetSpec(_Strict):
    family: Literal["resnet"]
    width: Width = 64
    depth: Literal[10, 18, 34] = 18


class VAESpec(_Strict):
    family: Literal["vae"]
    width: Width = 50
    depth: Depth = 2      # hidden layers of the encoder and of the decoder (the paper's code: 2)
    latent: Width = 50


class _Attention(_Strict):
    """A transformer's width splits evenly over its heads."""

    @model_validator(mode="after")
    def _heads_divide_width(self) -> _Attention:
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")
        return self


class ViTSpec(_Attention):
    family: Literal["vit"]
    width: Width = 192
    depth: Depth = 12
    heads: Width = 3
    patch: Width = 16
    mlp_ratio: Annotated[float, Field(gt=0, le=64)] = 4.0
    # The image size the position embedding is made for, interpolated (bicubic) to the input's patch
    # grid, as the paper's code (timm/DINO) does with 224; default: the input's own size.
    pos_embed_size: Annotated[int, Field(ge=1, le=4_096)] | None = None


class LinearSpec(_Strict):
    """xᵀw, no bias, starting at w = 0: no hidden layer (width and depth are 0)."""
    family: Literal["linear"]
    width: Literal[0] = 0
    depth: Literal[0] = 0


class GPTSpec(_Attention):
    """A character-level decoder-only transformer (models/gpt.py); its context is the data's."""
    family: Literal["gpt"]
    width: Width = 128
    depth: Depth = 4
    heads: Width = 4


ModelSpec = Annotated[MLPSpec | ResNetSpec | VAESpec | ViTSpec | LinearSpec | GPTSpec, Field(discriminator="family")]


# --- data ---------------------------------------------------------------------------------

class TeacherData(_Strict):
    source: Literal["teacher"]
    n: Count = 256
    n_test: Count = 256
    input_dim: Width = 16
    output_dim: Width = 1
    teacher_width: Width = 32
    teacher_depth: Depth = 1
    noise: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    seed: Seed = 0

    def shapes(self) -> tuple[tuple[int, ...], int]:
        """(a model's input shape, its outputs), known from the file (`packing.gpu_pack` counts
        parameters with them before any data is loaded; the loader uses them too)."""
        return (self.input_dim,), self.output_dim

    @model_validator(mode="after")
    def _fits(self) -> TeacherData:
        size = (self.n + self.n_test) * (self.input_dim + self.output_dim)
        if size > 500_000_000:
            raise ValueError(f"(n + n_test) × (input_dim + output_dim) = {size:,} numbers, more than "
                             "500,000,000 (2 GB)")
        return self


class DigitsData(_Strict):
    source: Literal["digits"]
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2
    seed: Seed = 0

    def shapes(self) -> tuple[tuple[int, ...], int]:
        return (64,), 10   # 8×8 images, 10 classes


class CIFAR10Data(_Strict):
    source: Literal["cifar10"]
    root: LocalPath = "~/.cache/regclip-bench/data"
    download: bool = False
    verify_checksums: bool = True
    augment: Literal["none", "crop_flip", "resized_crop", "resized_crop_flip"] = "crop_flip"
    normalize: bool = True   # by CIFAR10_MEAN, CIFAR10_STD
    image_size: Annotated[int, Field(ge=1, le=4_096)] = 32
    crop_scale: tuple[Annotated[float, Field(gt=0, le=1)], Annotated[float, Field(gt=0, le=1)]] = (0.05, 1.0)

    def shapes(self) -> tuple[tuple[int, ...], int]:
        return (3, self.image_size, self.image_size), 10


class FashionMNISTData(_Strict):
    source: Literal["fashion_mnist"]
    root: LocalPath = "~/.cache/regclip-bench/data"   # then the default cache, then Debian's package
    download: bool = False
    verify_checksums: bool = True

    def shapes(self) -> tuple[tuple[int, ...], int]:
        return (784,), 784   # flattened 28×28 images, reconstructed (the VAE's targets are its inputs)


class StreamLSQData(_Strict):
    """Streaming least squares (data/stream.py): x ~ N(0, Σ), y = xᵀw* + noise, fresh at every step."""
    source: Literal["stream_lsq"]
    dim: Width = 200
    spectrum: Annotated[float, Field(ge=0, le=10)] = 1.0       # λ_i ∝ i^(−spectrum)
    noise: Literal["gaussian", "student_t"] = "gaussian"
    # Student-t degrees of freedom: 1 (Cauchy) to 2 is the heavy-tailed regime of the clipping literature
    # (a mean, no variance); below 1 there is no mean, and float32 sampling underflows (df = 1e-300 draws
    # no noise at all)
    df: Annotated[float, Field(ge=1, le=1_000)] = 1.5
    noise_scale: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1.0
    seed: Seed = 0                                            # w* (the stream follows the trial's seed)

    def shapes(self) -> tuple[tuple[int, ...], int]:
        return (self.dim,), 1


class TextData(_Strict):
    """A character-level corpus from a file a system package installs (data/text.py)."""
    source: Literal["text"]
    path: LocalPath = "/usr/share/dictd/jargon.dict.dz"
    package: str = "dict-jargon"   # what installs it, for the error that says how to get it
    sha256: str = "6c8118c277d0b00736d406d4941b77b69932d6ab125f7179ff88fe12939cc19e"   # of the text
    context: Annotated[int, Field(ge=2, le=8_192)] = 64
    val_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1
    eval_windows: Annotated[int, Field(ge=1, le=100_000)] = 256

    def shapes(self) -> None:
        return None   # the vocabulary is the corpus's: known once it is read


DataSpec = Annotated[TeacherData | DigitsData | CIFAR10Data | FashionMNISTData | StreamLSQData | TextData,
                     Field(discriminator="source")]


# --- budget, target, search space ---------------------------------------------------------

class Schedule(_Strict):
    """η × lr_decay after each milestone (epochs when the budget is in epochs, else steps)."""
    lr_milestones: list[Steps]
    lr_decay: Annotated[float, Field(gt=0, le=1)] = 0.1


class BudgetSpec(_Strict):
    steps: Steps | None = None
    epochs: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    batch_size: Count | Literal["full"] = "full"
    log_every: Steps = 10
    eval_every: Steps = 100
    lr_milestones: list[Steps] = []  # in epochs when the budget is in epochs, else steps (every optimizer
    lr_decay: Annotated[float, Field(gt=0, le=1)] = 0.1   # without a schedule of its own in defaults)
    sharpness_every: Annotated[int, Field(ge=0, le=1_000_000)] = 0   # in logged steps; 0: off (sharpness.py)
    sharpness_iterations: Annotated[int, Field(ge=1, le=1_000)] = 20

    @property
    def schedule(self) -> Schedule:
        """The budget's learning-rate schedule (every optimizer without one of its own in `defaults`)."""
        return Schedule(lr_milestones=self.lr_milestones, lr_decay=self.lr_decay)

    @model_validator(mode="after")
    def _steps_or_epochs(self) -> BudgetSpec:
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("give exactly one of steps and epochs")
        return self


class TargetSpec(_Strict):
    metric: str   # train_loss, or a metric the task's kind reports (kinds.METRICS)
    value: Finite  # a target nothing can reach (nan, ±inf) would train toward nothing
    direction: Literal["min", "max"]
    # How a configuration is scored: the metric at the end of the budget, or how soon it
    # reaches `value` (AlgoPerf): steps on CPU, seconds where every trial ran on one GPU model.
    score: Literal["final_metric", "time_to_target"] = "final_metric"

    def reached(self, value: float) -> bool:
        return value <= self.value if self.direction == "min" else value >= self.value

    def tracked_loss(self) -> float | None:
        """The training loss a trial watches for at every step, on the device (a train_loss target
        to minimise; one to maximise is judged on the logged rows), else None."""
        return self.value if self.metric == "train_loss" and self.direction == "min" else None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in ("train_loss", *METRICS):
            raise ValueError(unknown("metric", value, ("train_loss", *METRICS)))
        return value


HParamValues = list[Finite]


_Size = Annotated[int, Field(ge=0, le=65_536)]   # 0: a model without hidden layers (linear)


class SearchSpace(_Strict):
    width: list[_Size]
    depth: list[_Size]
    seeds: Annotated[int, Field(ge=1, le=1_000)] = 3
    optimizers: dict[str, dict[str, HParamValues]]

    @field_validator("optimizers")
    @classmethod
    def _known_optimizers(cls, value: dict[str, dict[str, HParamValues]]) -> dict:
        _check_optimizer_hparams(value, need_all=True)
        return value


class QuickGrid(_Strict):
    """The grid of `regclip-bench run TASK`: a few minutes on a 2-CPU machine; each optimizer
    at the task's default hyperparameters."""
    width: list[_Size]
    depth: list[_Size]
    seeds: Annotated[int, Field(ge=1, le=1_000)] = 2
    optimizers: list[str]
    steps: Steps | None = None   # a shorter budget where the task's own takes more than a few minutes:
                                 # a workload of its own (labelled [steps=N]), never the headline
    # values in place of an optimizer's defaults (e.g. an η past SGD's stability limit, where the methods differ)
    hparams: dict[str, dict[str, HParamValues]] = {}

    @field_validator("optimizers")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        _check_optimizer_hparams({name: {} for name in value}, need_all=False)
        return value

    @model_validator(mode="after")
    def _grid_of_listed_optimizers(self) -> QuickGrid:
        for name in self.hparams:
            if name not in self.optimizers:
                raise ValueError(f"hparams.{name}: not one of the quick grid's optimizers")
        _check_optimizer_hparams(self.hparams, need_all=False)
        return self


def _low_below_high(pair: tuple[float, float]) -> tuple[float, float]:
    if not pair[0] < pair[1]:
        raise ValueError(f"range {list(pair)}: the low end must be below the high end")
    return pair


_Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class LogRange(_Strict):
    """A range sampled log-uniformly (lr, γ, weight decay, and δ or momentum when given so)."""
    log: Annotated[tuple[_Positive, _Positive], AfterValidator(_low_below_high)]


class UniformRange(_Strict):
    uniform: Annotated[tuple[Finite, Finite], AfterValidator(_low_below_high)]


class Choice(_Strict):
    values: Annotated[list[Finite], Field(min_length=1)]


TuningRange = LogRange | UniformRange | Choice | Finite


# The protocol's held-out seeds (docs/protocol.md): configurations are chosen on the tuning seeds
# 0 … search_space.seeds − 1 (at most 1,000), and each optimizer's chosen configuration is reported on
# seeds REPORT_SEED_BASE, REPORT_SEED_BASE + 1, …, which no selection ever sees.
REPORT_SEED_BASE = 10_000


def report_seeds(task: TaskSpec) -> list[int]:
    """The held-out seeds a task's chosen configurations are reported on."""
    n = task.tuning.report_seeds if task.tuning is not None else TuningSpec.model_fields["report_seeds"].default
    return list(range(REPORT_SEED_BASE, REPORT_SEED_BASE + n))


def is_report_seed(seed: Any) -> bool:
    return isinstance(seed, (int, float)) and not isinstance(seed, bool) and seed >= REPORT_SEED_BASE


class TuningSpec(_Strict):
    """Per-optimizer ranges for budgeted quasi-random tuning (`sweep --budget N`), and how many held-out
    seeds report each optimizer's chosen configuration."""
    optimizers: dict[str, dict[str, TuningRange]]
    report_seeds: Annotated[int, Field(ge=2, le=100)] = 10

    @field_validator("optimizers")
    @classmethod
    def _valid(cls, value: dict[str, dict[str, TuningRange]]) -> dict:
        _check_optimizer_hparams(value, need_all=True)
        for name, ranges in value.items():
            for key, rng in ranges.items():
                if log_scaled(key) and isinstance(rng, UniformRange):
                    raise ValueError(f"{name}.{key}: give a log range ({{log: [low, high]}}), "
                                     "not a uniform one")
        return value


class DefaultsSpec(_Strict):
    optimizer: str
    seed: Seed = 0
    hparams: dict[str, dict[str, Finite]]
    # An optimizer's own schedule, in place of the budget's (the paper's VAE code decays η for
    # GClip and δ-GClip only): part of its configuration, not of the workload.
    schedules: dict[str, Schedule] = {}

    @model_validator(mode="after")
    def _known(self) -> DefaultsSpec:
        if self.optimizer not in self.hparams:
            raise ValueError(f"optimizer {self.optimizer!r} has no entry in defaults.hparams")
        _check_optimizer_hparams(self.hparams, need_all=True)
        _check_optimizer_hparams({name: {} for name in self.schedules}, need_all=False)
        return self


def _check_optimizer_hparams(per_optimizer: dict[str, dict], need_all: bool) -> None:
    for name, hparams in per_optimizer.items():
        lookup(name).check_names(hparams, complete=need_all)


class TaskSpec(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
    description: str
    source: str  # where the task's numbers come from
    model: ModelSpec
    data: DataSpec
    loss: str   # the task's kind (kinds.KINDS): mse, cross_entropy, vae, …
    budget: BudgetSpec
    target: TargetSpec
    defaults: DefaultsSpec
    search_space: SearchSpace
    quick_grid: QuickGrid | None = None
    tuning: TuningSpec | None = None
    # Sweeps train up to this many configurations of one workload and optimizer together (sweep --pack);
    # how trials run, not what they compute: not part of the workload.
    pack: Annotated[int, Field(ge=1, le=4096)] = 1
    # The workloads the leaderboard shows first: overrides of this file (width, depth,
    # budget keys, dotted fields); the default is the file's own workload.
    headline: Annotated[list[dict[str, Annotated[int | float | str | bool, Field(union_mode="left_to_right")]]],
                        Field(min_length=1)] = [{}]

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        if self.quick_grid is not None:
            missing = [o for o in self.quick_grid.optimizers if o not in self.defaults.hparams]
            if missing:
                raise ValueError(f"quick_grid optimizer {missing[0]!r} has no defaults.hparams entry")
        kind = KINDS[self.loss]
        if kind.sources and self.data.source not in kind.sources:
            raise ValueError(f"loss {self.loss} needs data source {' or '.join(kind.sources)}")
        if self.data.source in ("stream_lsq", "text") and (self.budget.steps is None or self.budget.batch_size == "full"):
            raise ValueError("a stream has no epochs and no full batch: give budget.steps and a batch_size")
        if kind.families and self.model.family not in kind.families:
            raise ValueError(f"loss {self.loss} needs model family {' or '.join(kind.families)}")
        owner = next((k.name for k in KINDS.values() if self.model.family in k.families), self.loss)
        if owner != self.loss:
            raise ValueError(f"model family {self.model.family} needs loss {owner}")
        if self.target.metric not in ("train_loss", *kind.metrics):
            needs = [k.name for k in KINDS.values() if self.target.metric in k.metrics]
            raise ValueError(f"target {self.target.metric} needs loss {' or '.join(needs)}")
        return self

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(unknown("loss", value, KINDS))
        return value


# --- loading ------------------------------------------------------------------------------

def task_names() -> list[str]:
    return sorted(path.stem for path in TASKS_DIR.glob("*.yaml"))


def resolve_task_path(task: str | Path) -> Path:
    """A shipped task's name, or a path to a YAML file."""
    path = Path(task)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"{task}: no such task file")
        return path
    shipped = TASKS_DIR / f"{task}.yaml"
    if not shipped.is_file():
        raise ConfigError(f"unknown task {str(task)!r}; shipped tasks: {', '.join(task_names())} "
                          "(or give a path to a YAML file)")
    return shipped


def load_task(task: str | Path) -> TaskSpec:
    path = resolve_task_path(task)
    task = read_model(path, TaskSpec, "a task file")
    try:
        headline_workloads(task)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return task


# The workload fields `--set`/`--grid` and a task's `headline:` may change without a dotted path.
BUDGET_KEYS = ("steps", "epochs", "batch_size", "log_every", "eval_every")
MODEL_KEYS = ("width", "depth")


def apply_task_overrides(task: TaskSpec, overrides: dict[str, Any]) -> TaskSpec:
    """`task` with the budget, model and dotted keys of `overrides` applied (and removed from it)."""
    raw = task.model_dump()
    for key in list(overrides):
        if key in BUDGET_KEYS:
            if key in ("steps", "epochs"):
                raw["budget"]["steps"] = raw["budget"]["epochs"] = None
            raw["budget"][key] = overrides.pop(key)
        elif key in MODEL_KEYS:
            raw["model"][key] = overrides.pop(key)
        elif "." in key:
            section, _, field_name = key.partition(".")
            if section not in raw or not isinstance(raw[section], dict):
                raise ConfigError(f"--set {key}: unknown section {section!r}; "
                                  "dotted keys start with model., data., budget. or target.")
            raw[section][field_name] = overrides.pop(key)
    try:
        return TaskSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"--set: {describe_validation_error(exc)}") from None


def headline_workloads(task: TaskSpec) -> list[TaskSpec]:
    """The task's headline workloads (its `headline` overrides applied), each validated."""
    resolved = []
    for i, overrides in enumerate(task.headline):
        left = dict(overrides)
        try:
            resolved.append(apply_task_overrides(task, left))
        except ConfigError as exc:
            raise ConfigError(f"headline[{i}]: {str(exc).removeprefix('--set: ')}") from None
        if left:
            key = next(iter(left))
            raise ConfigError(f"headline[{i}]: {key} is not a workload field (give width, depth, "
                              "budget keys or dotted task fields)")
    return resolved


def read_model(path: Path, model: type[BaseModel], what: str) -> BaseModel:
    """A YAML file validated as `model`: any problem is one line naming the file, the field and the value."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: {what} must be a mapping of fields, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line: the first error's field path, what is wrong, and the offending value."""
    error = exc.errors()[0]
    loc = list(error["loc"])
    # Discriminated unions put the tag (e.g. 'mlp') in the path; the user never wrote it.
    if len(loc) >= 2 and loc[0] in ("model", "data") and isinstance(loc[1], str) and loc[1] in _TAGS:
        del loc[1]
    # ... and so do unions of types (batch_size: an int or "full"): keep the field's own name.
    loc = [part for part in loc if not (isinstance(part, str) and _UNION_MEMBER.match(part))]
    field = ".".join(str(part) for part in loc) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    shown = error.get("input")
    value = "" if error["type"] == "missing" or isinstance(shown, dict) else f", got {shown!r}"
    if len(value) > 90:   # a 300-character path stays one readable line
        value = f"{value[:60]}…{value[-20:]}"
    return f"{field}: {message}{value}"


_TAGS = {get_args(member.model_fields[tag].annotation)[0]   # every model family and data source
         for union, tag in ((ModelSpec, "family"), (DataSpec, "source")) for member in get_args(get_args(union)[0])}
_UNION_MEMBER = re.compile(r"^(constrained-\w+|literal\[.*\]|int|float|str|bool|none|"
                           r"function-\w+\[.*\]|tuple\[.*\]|list\[.*\]|dict\[.*\]|[A-Z]\w*)$")
