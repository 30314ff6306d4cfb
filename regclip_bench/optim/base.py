"""What every optimizer of the suite shares: the range of each argument it takes, and the record
of its last step that it gives the training loop.

torch.optim accepts lr = 0, lr = NaN and momentum ≥ 1; a benchmark should not.  The optimizer
classes, the registry, task files and `--set` all check values here.  Every optimizer has
`diagnostics(full=True) -> OptimizerDiagnostics`; the loop asks with `full=False` every step (what
is free to give) and with `full=True` when it logs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

from torch import Tensor

RANGES: dict[str, tuple[float, float, bool, bool]] = {   # low, high, low included, high included
    "lr": (0.0, math.inf, False, False), "gamma": (0.0, math.inf, False, False),
    "delta": (0.0, 1.0, True, True), "weight_decay": (0.0, math.inf, True, False),
    "momentum": (0.0, 1.0, True, False), "eps": (0.0, math.inf, False, False),
    "betas": (0.0, 1.0, True, False),   # each of the two
}


def check_range(name: str, value: object) -> None:
    """ValueError naming the argument and its value unless it is a finite number in its range."""
    low, high, low_in, high_in = RANGES[name]
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if not (ok and (value >= low if low_in else value > low) and (value <= high if high_in else value < high)):
        bound = f"{'>=' if low_in else '>'} {low:g}" + ("" if high == math.inf else
                                                        f" and {'<=' if high_in else '<'} {high:g}")
        raise ValueError(f"invalid {name}={value!r}: must be a finite number {bound}")


def check_hyperparameters(hparams: Mapping[str, Any]) -> None:
    """Every value within its range; names without a range here are not checked."""
    for key, value in hparams.items():
        if key == "betas":
            if not (isinstance(value, (tuple, list)) and len(value) == 2):
                raise ValueError(f"invalid betas={value!r}: must be two numbers in [0, 1)")
            for beta in value:
                check_range("betas", beta)
        elif key in RANGES:
            check_range(key, value)
        elif key in ("nesterov", "per_tensor") and not isinstance(value, bool):
            raise ValueError(f"invalid {key}={value!r}: must be true or false")


@dataclass(frozen=True)
class OptimizerDiagnostics:
    """0-d device tensors, read at log intervals (reading them syncs; making them does not)."""
    grad_norm: Tensor | None = None         # ‖g‖ of the last step, over every parameter
    clip_factor: Tensor | None = None       # h/η of the last step: the optimizer clips
    step_size: Tensor | None = None         # h of the last step
    nonfinite_steps: Tensor | None = None   # steps so far with a NaN or infinite ‖g‖
    floor: float | None = None              # δ, the clip factor's floor (for the regime)
