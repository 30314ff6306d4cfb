"""Every optimizer the suite benchmarks, by name, with the hyperparameters each accepts."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim.optimizer import Optimizer, ParamsT

from ..errors import unknown
from .base import OptimizerDiagnostics, check_hyperparameters
from .clip_sgd import ClipSGD
from .delta_gclip import DeltaGClip, GClip, global_grad_norm


@dataclass(frozen=True)
class OptimizerEntry:
    build: Callable[..., Optimizer]
    required: tuple[str, ...]
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def accepts(self) -> tuple[str, ...]:
        return self.required + tuple(self.defaults)


class MeasuredGradients:
    """For torch's optimizers: the diagnostics protocol, with ‖g‖ of the gradients the last step
    used, computed when read (they are still there until the next zero_grad)."""

    def diagnostics(self, full: bool = True) -> OptimizerDiagnostics:
        """`full=False`: nothing (a norm pass is not free): what the loop asks for every step."""
        if not full:
            return OptimizerDiagnostics()
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        return OptimizerDiagnostics(grad_norm=global_grad_norm(grads))


class SGD(MeasuredGradients, torch.optim.SGD):
    pass


class Adam(MeasuredGradients, torch.optim.Adam):
    pass


class AdamW(MeasuredGradients, torch.optim.AdamW):
    pass


OPTIMIZERS: dict[str, OptimizerEntry] = {
    "delta_gclip": OptimizerEntry(DeltaGClip, ("lr", "gamma", "delta"), {"weight_decay": 0.0}),
    "gclip": OptimizerEntry(GClip, ("lr", "gamma"), {"weight_decay": 0.0}),
    "delta_gclip_per_tensor": OptimizerEntry(functools.partial(DeltaGClip, per_tensor=True),
                                             ("lr", "gamma", "delta"), {"weight_decay": 0.0}),
    "sgd": OptimizerEntry(SGD, ("lr",), {"weight_decay": 0.0}),
    "sgd_momentum": OptimizerEntry(SGD, ("lr",), {"momentum": 0.9, "nesterov": False, "weight_decay": 0.0}),
    "adam": OptimizerEntry(Adam, ("lr",), {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}),
    "adamw": OptimizerEntry(AdamW, ("lr",), {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}),
    "clip_sgd": OptimizerEntry(ClipSGD, ("lr", "gamma"), {"momentum": 0.0, "weight_decay": 0.0}),
}


def optimizer_entry(name: str) -> OptimizerEntry:
    try:
        return OPTIMIZERS[name]
    except KeyError:
        raise ValueError(unknown("optimizer", name, OPTIMIZERS)) from None


def check_names(name: str, keys, complete: bool = True) -> None:
    """ValueError unless optimizer `name` exists, takes every argument in `keys` and, when
    `complete`, finds there each it needs."""
    entry = optimizer_entry(name)
    accepted = ", ".join(entry.accepts)
    unexpected = sorted(set(keys) - set(entry.accepts))
    if unexpected:
        raise ValueError(f"optimizer {name!r} does not take {', '.join(unexpected)}; it accepts: {accepted}")
    missing = [key for key in entry.required if key not in keys]
    if complete and missing:
        raise ValueError(f"optimizer {name!r} needs {', '.join(missing)}; it accepts: {accepted}")


def check_arguments(name: str, hparams: Mapping[str, Any]) -> None:
    """`check_names`, and every value in its range (`base.RANGES`)."""
    check_names(name, hparams)
    check_hyperparameters(hparams)


def make_optimizer(name: str, params: ParamsT, **hparams: Any) -> Optimizer:
    """Build optimizer `name` over `params`; unknown names and arguments are errors."""
    check_arguments(name, hparams)
    entry = optimizer_entry(name)
    return entry.build(params, **{**entry.defaults, **hparams})
