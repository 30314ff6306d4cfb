"""Per-step training diagnostics, accumulated on the device and read back once per log interval."""

from __future__ import annotations

import torch
from torch import Tensor

from .optim import REGIME_NAMES, OptimizerDiagnostics, classify_regime


class StepDiagnostics:
    """Running device-side statistics of the training loss and the clipping regime.

    `update()` is called every step and only queues small tensor ops (no host sync);
    `read()` brings everything back in one transfer and starts a new interval.
    """

    def __init__(self, device: torch.device, loss_target: float | None) -> None:
        self.loss_target = loss_target            # train-loss target (direction min), or None
        self.step = torch.zeros((), dtype=torch.int64, device=device)
        self.interval_loss = torch.zeros((), dtype=torch.float64, device=device)
        self.best_loss = torch.full((), float("inf"), device=device)
        self.nonfinite = torch.zeros((), dtype=torch.bool, device=device)
        self.first_hit = torch.full((), -1, dtype=torch.int64, device=device)
        self.regimes = torch.zeros(3, dtype=torch.int64, device=device)
        self._one = torch.ones(1, dtype=torch.int64, device=device)
        self.loss: Tensor | None = None
        self.regime: Tensor | None = None         # the last step's, when the optimizer clips

    _STATE = ("step", "interval_loss", "best_loss", "nonfinite", "first_hit", "regimes")

    def state_dict(self) -> dict[str, Tensor]:
        return {name: getattr(self, name).clone() for name in self._STATE}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for name in self._STATE:
            getattr(self, name).copy_(state[name])

    def update(self, loss: Tensor, optimizer: OptimizerDiagnostics) -> None:
        loss = loss.detach()
        self.loss = loss
        self.step += 1
        self.interval_loss += loss
        torch.fmin(self.best_loss, loss, out=self.best_loss)   # fmin ignores NaN
        self.nonfinite |= ~torch.isfinite(loss)
        if optimizer.clip_factor is not None:
            # Classified on the device: δ as a float32 is not the Python float δ.
            self.regime = classify_regime(optimizer.clip_factor, optimizer.floor or 0.0).long().view(1)
            self.regimes.index_add_(0, self.regime, self._one)
        if self.loss_target is not None:
            hit = (loss <= self.loss_target) & (self.first_hit < 0)
            torch.where(hit, self.step, self.first_hit, out=self.first_hit)

    def read(self, steps_in_interval: int, extra: dict[str, Tensor]) -> dict[str, float]:
        """Everything as Python numbers (one host sync); resets the interval sums."""
        regime = [self.regime.view(())] if self.regime is not None else []
        names = ["loss", "interval_loss", "best_loss", "nonfinite", "first_hit",
                 *(f"n_{r}" for r in REGIME_NAMES), *extra, *(["regime"] if regime else [])]
        values = [self.loss, self.interval_loss, self.best_loss, self.nonfinite, self.first_hit,
                  *self.regimes, *extra.values(), *regime]
        numbers = torch.stack([v.to(self.best_loss.device, torch.float64) for v in values]).tolist()
        out = dict(zip(names, numbers))
        out["loss_avg"] = out.pop("interval_loss") / steps_in_interval
        out["nonfinite"] = bool(out["nonfinite"])
        out["first_hit"] = int(out["first_hit"])
        out["regime"] = REGIME_NAMES[int(out["regime"])] if regime else None
        self.interval_loss.zero_()
        self.regimes.zero_()
        return out
