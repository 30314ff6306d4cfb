"""Every optimizer the suite benchmarks, by name, with the hyperparameters each accepts."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim.optimizer import Optimizer, ParamsT

from .clip_sgd import ClipSGD
from .delta_gclip import DeltaGClip, GClip, _check_hparam


@dataclass(frozen=True)
class OptimizerEntry:
    build: Callable[..., Optimizer]
    required: tuple[str, ...]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    clips: bool = False  # a member of the δ-GClip family: reports h/η and the regime

    @property
    def accepts(self) -> tuple[str, ...]:
        return self.required + tuple(self.defaults)


OPTIMIZERS: dict[str, OptimizerEntry] = {
    "delta_gclip": OptimizerEntry(DeltaGClip, ("lr", "gamma", "delta"), {"weight_decay": 0.0},
                                  clips=True),
    "gclip": OptimizerEntry(GClip, ("lr", "gamma"), {"weight_decay": 0.0}, clips=True),
    "delta_gclip_per_tensor": OptimizerEntry(functools.partial(DeltaGClip, per_tensor=True),
                                             ("lr", "gamma", "delta"), {"weight_decay": 0.0},
                                             clips=True),
    "sgd": OptimizerEntry(torch.optim.SGD, ("lr",), {"weight_decay": 0.0}),
    "sgd_momentum": OptimizerEntry(torch.optim.SGD, ("lr",),
                                   {"momentum": 0.9, "nesterov": False, "weight_decay": 0.0}),
    "adam": OptimizerEntry(torch.optim.Adam, ("lr",),
                           {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}),
    "adamw": OptimizerEntry(torch.optim.AdamW, ("lr",),
                            {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}),
    "clip_sgd": OptimizerEntry(ClipSGD, ("lr", "gamma"), {"momentum": 0.0, "weight_decay": 0.0}),
}


# The range of every hyperparameter any optimizer of the suite takes (torch.optim accepts lr = 0
# and lr = NaN, and momentum ≥ 1: a benchmark should not).
RANGES: dict[str, dict[str, Any]] = {
    "lr": dict(low=0.0, low_inclusive=False),
    "gamma": dict(low=0.0, low_inclusive=False),
    "delta": dict(low=0.0, high=1.0, low_inclusive=True),
    "weight_decay": dict(low=0.0, low_inclusive=True),
    "momentum": dict(low=0.0, high=1.0, low_inclusive=True),
    "eps": dict(low=0.0, low_inclusive=False),
}


def check_hyperparameters(hparams: Mapping[str, Any]) -> None:
    """Every value within its range (ValueError naming it otherwise); names not listed are not checked."""
    for key, value in hparams.items():
        if key in RANGES:
            _check_hparam(key, value, **RANGES[key])
            if key == "momentum" and value == 1.0:
                raise ValueError("invalid momentum=1.0: must be below 1")
        elif key == "betas":
            if not (isinstance(value, (tuple, list)) and len(value) == 2):
                raise ValueError(f"invalid betas={value!r}: must be two numbers in [0, 1)")
            for beta in value:
                _check_hparam("betas", beta, low=0.0, high=1.0, low_inclusive=True)
                if beta == 1.0:
                    raise ValueError(f"invalid betas={value!r}: must be below 1")
        elif key == "nesterov" and not isinstance(value, bool):
            raise ValueError(f"invalid nesterov={value!r}: must be true or false")


def optimizer_entry(name: str) -> OptimizerEntry:
    try:
        return OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose from: {', '.join(OPTIMIZERS)}") from None


def make_optimizer(name: str, params: ParamsT, **hparams: Any) -> Optimizer:
    """Build optimizer `name` over `params`; unknown names and arguments are errors."""
    entry = optimizer_entry(name)
    accepted = ", ".join(entry.accepts)
    unexpected = sorted(set(hparams) - set(entry.accepts))
    if unexpected:
        raise ValueError(f"optimizer {name!r} does not take {', '.join(unexpected)}; "
                         f"it accepts: {accepted}")
    missing = [key for key in entry.required if key not in hparams]
    if missing:
        raise ValueError(f"optimizer {name!r} needs {', '.join(missing)}; it accepts: {accepted}")
    check_hyperparameters(hparams)
    return entry.build(params, **{**entry.defaults, **hparams})
