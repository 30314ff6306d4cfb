"""The optimizer contract: everything the suite knows about an optimizer lives on its `OptimizerEntry`
— how to build it, the hyperparameters it takes with their defaults and ranges, what it costs in
memory, whether it clips, its packed kernel, its colour — and one hyperparameter vocabulary (scalars
only: `beta1`, `beta2`, not `betas`) that task files, `--set`, `--grid`, the store and plug-ins share.

torch.optim accepts lr = 0, lr = NaN and momentum ≥ 1; a benchmark should not.  A trial's values
are checked once, when it is resolved (`OptimizerEntry.resolve`); the optimizer classes check their
own arguments as torch.optim's do (`check_value`).  Built-in entries are in `registry.py`; a plug-in's
is made from its class or factory (`plugins.py`).  This module imports nothing of the suite's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Real
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:   # annotations only: reading task files and stores never imports torch (_lazy.py)
    from torch import Tensor
    from torch.optim import Optimizer

# Regime codes of a step, as `delta_gclip.classify_regime` returns them.
UNCLIPPED, CLIPPED, FLOOR = 0, 1, 2
REGIME_NAMES = ("unclipped", "clipped", "floor")


@dataclass(frozen=True)
class Range:
    """Where a number may lie; `log`: tuned and sampled on a log scale."""
    low: float = -math.inf
    high: float = math.inf
    low_in: bool = True
    high_in: bool = True
    log: bool = False

    def contains(self, value: float) -> bool:
        return ((value >= self.low if self.low_in else value > self.low)
                and (value <= self.high if self.high_in else value < self.high))

    def describe(self) -> str:
        if self.low == -math.inf and self.high == math.inf:
            return ""
        low = f"{'>=' if self.low_in else '>'} {self.low:g}" if self.low > -math.inf else ""
        high = f"{'<=' if self.high_in else '<'} {self.high:g}" if self.high < math.inf else ""
        return " " + " and ".join(part for part in (low, high) if part)


POSITIVE = Range(0.0, math.inf, False, False, log=True)
UNIT = Range(0.0, 1.0, True, False)   # [0, 1): momentum, β

# The shared vocabulary: a name means the same thing, with the same range, for every optimizer.
VOCABULARY: dict[str, Range] = {
    "lr": POSITIVE,                                   # η
    "gamma": POSITIVE,                                # γ, the clipping threshold on ‖g‖
    "delta": Range(0.0, 1.0, True, True),             # δ, the floor of h/η
    "weight_decay": Range(0.0, math.inf, True, False, log=True),
    "momentum": UNIT,
    "beta1": UNIT,
    "beta2": UNIT,
    "eps": POSITIVE,
}
ANY = Range()


def log_scaled(name: str) -> bool:
    """Tuned on a log scale (lr, γ, weight decay, ε): log ranges only, and search samples it so."""
    return VOCABULARY.get(name, ANY).log


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()   # a hyperparameter without a default: the task or the user gives it


@dataclass(frozen=True)
class Hyperparameter:
    """One scalar argument of an optimizer: a number (float or int) or a flag (bool)."""
    name: str
    default: Any = REQUIRED
    kind: type = float
    range: Range = ANY

    @staticmethod
    def of(name: str, default: Any = REQUIRED, kind: type | None = None) -> Hyperparameter:
        """The vocabulary's range for a name it has, else any finite value of the default's kind."""
        if kind is None:   # a vocabulary name is a number whatever its default's spelling (weight_decay=0)
            kind = float if name in VOCABULARY else type(default) if isinstance(default, (bool, int, float)) else float
        return Hyperparameter(name, default, kind, VOCABULARY.get(name, ANY) if kind is not bool else ANY)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, value: object) -> Any:
        """The value in its one spelling (1 and 1.0 are the same learning rate), or a ValueError
        naming the hyperparameter and the value."""
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"invalid {self.name}={value!r}: must be true or false")
            return value
        number = isinstance(value, Real) and not isinstance(value, bool)
        if self.kind is int:
            if not (number and math.isfinite(value) and float(value).is_integer()):
                raise ValueError(f"invalid {self.name}={value!r}: must be a whole number{self.range.describe()}")
            value = int(value)
        elif not (number and math.isfinite(value)):
            raise ValueError(f"invalid {self.name}={value!r}: must be a finite number{self.range.describe()}")
        else:
            value = float(value) + 0.0   # -0.0 is 0.0: one key
        if not self.range.contains(value):
            raise ValueError(f"invalid {self.name}={value!r}: must be a finite number{self.range.describe()}")
        return value


def check_value(name: str, value: object) -> Any:
    """A vocabulary hyperparameter's value checked (for the optimizer classes' own constructors)."""
    return Hyperparameter.of(name).check(value)


@dataclass(frozen=True)
class OptimizerDiagnostics:
    """What an optimizer says of its last step, as 0-d device tensors (reading them syncs; making
    them does not).  ‖g‖, ‖Δw‖ and ‖w − w₀‖ are measured by the loop, outside any optimizer."""
    grad_norm: Tensor | None = None         # ‖g‖ of the last step (a pack's: per member)
    clip_factor: Tensor | None = None       # h/η of the last step: the optimizer clips
    step_size: Tensor | None = None         # h of the last step
    nonfinite_steps: Tensor | None = None   # steps so far with a NaN or infinite ‖g‖
    floor: float | None = None              # δ, the clip factor's floor (for the regime)


NO_DIAGNOSTICS = OptimizerDiagnostics()


@dataclass(frozen=True)
class OptimizerEntry:
    """Everything about one optimizer.  `build(params, **hyperparameters)` makes it from the resolved
    values (every hyperparameter given, each checked: `resolve`)."""
    name: str
    build: Callable[..., Optimizer]
    hyperparameters: tuple[Hyperparameter, ...]
    display: str
    color: str | None = None      # None: the next free colour of the extended palette (report/colors.py)
    state_copies: int = 0         # optimizer state in copies of the weights (momentum 1, Adam 2): the memory estimate
    clips: bool = False           # scales its step by ‖g‖ (the findings compare clipping methods)
    regime: bool = False          # its `diagnostics()` reports h/η, h and δ (the regime diagnostics)
    packed: Callable[..., None] | None = None   # its per-member kernel for packed trials (optim/packed.py)
    mode_switch: bool = False     # optimizer.train() before training steps, .eval() around evaluation
    capturable: bool = False      # its step (and packed kernel) keeps no per-step value on the host: a CUDA
                                  # graph can replay it (graphs.py); Adam's step count is a host number
    origin: str = "built-in"      # or the plug-in: "module:Class", "entry point NAME", "submission NAME"
    source_sha256: str | None = None               # a plug-in's source, hashed: part of its configuration key
    source_paths: tuple[str, ...] = field(default=(), compare=False)   # where its code lives (errors raised there are its own)
    packages: Mapping[str, str] = field(default_factory=dict, compare=False)   # versions of what it needs
    plugin: Mapping[str, Any] | None = field(default=None, compare=False)      # what rebuilds a plug-in elsewhere

    @property
    def builtin(self) -> bool:
        return self.origin == "built-in"

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hyperparameters if h.required)

    @property
    def defaults(self) -> dict[str, Any]:
        return {h.name: h.default for h in self.hyperparameters if not h.required}

    @property
    def accepts(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hyperparameters)

    @property
    def floored(self) -> bool:
        """A clipping method with a floor δ on h/η (δ-GClip and its per-tensor variant)."""
        return self.clips and "delta" in self.accepts

    def hyperparameter(self, name: str) -> Hyperparameter:
        return next(h for h in self.hyperparameters if h.name == name)

    def check_names(self, keys, complete: bool = True) -> None:
        """ValueError unless it takes every name in `keys` and, when `complete`, they hold each it needs."""
        accepted = ", ".join(self.accepts)
        unexpected = sorted(set(keys) - set(self.accepts))
        if unexpected:
            raise ValueError(f"optimizer {self.name!r} does not take {', '.join(unexpected)}; it accepts: {accepted}")
        missing = [key for key in self.required if key not in keys]
        if complete and missing:
            raise ValueError(f"optimizer {self.name!r} needs {', '.join(missing)}; it accepts: {accepted}")

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every hyperparameter, in the entry's order: `given` over the defaults, each value checked
        and in its one spelling — the whole configuration, so that a default is part of its key."""
        self.check_names(given)
        return {h.name: h.check(given[h.name] if h.name in given else h.default) for h in self.hyperparameters}

    def diagnostics(self, optimizer: Any, full: bool = True) -> OptimizerDiagnostics:
        """The regime diagnostics of an optimizer that has them; nothing from the others."""
        return optimizer.diagnostics(full) if self.regime else NO_DIAGNOSTICS
