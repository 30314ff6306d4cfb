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

    def __init__(self, device: torch.device, loss_target: float | None, shape: tuple[int, ...] = ()) -> None:
        """`shape`: () for one trial, (K,) for the K members of a pack (each statistic per member)."""
        self.loss_target = loss_target            # train-loss target (direction min), or None
        self.shape = shape
        self.step = torch.zeros((), dtype=torch.int64, device=device)
        self.interval_loss = torch.zeros(shape, dtype=torch.float64, device=device)
        self.best_loss = torch.full(shape, float("inf"), device=device)
        self.nonfinite = torch.zeros(shape, dtype=torch.bool, device=device)
        self.first_hit = torch.full(shape, -1, dtype=torch.int64, device=device)
        self.regimes = torch.zeros(*shape, 3, dtype=torch.int64, device=device)
        self._one = torch.ones(*shape, 1, dtype=torch.int64, device=device)
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
            floor = 0.0 if optimizer.floor is None else optimizer.floor
            self.regime = classify_regime(optimizer.clip_factor, floor).long().view(*self.shape, 1)
            self.regimes.scatter_add_(-1, self.regime, self._one)
        if self.loss_target is not None:
            hit = (loss <= self.loss_target) & (self.first_hit < 0)
            torch.where(hit, self.step, self.first_hit, out=self.first_hit)

    def read(self, steps_in_interval: int, optimizer: OptimizerDiagnostics, dist_from_init: Tensor) -> dict[str, float]:
        """Everything, with the optimizer's last step and ‖w − w₀‖, as Python numbers (one host
        sync); resets the interval sums."""
        return self.read_members(steps_in_interval, optimizer, dist_from_init)[0]

    def read_members(self, steps_in_interval: int, optimizer: OptimizerDiagnostics,
                     dist_from_init: Tensor) -> list[dict[str, float]]:
        """`read`, one dict per member (one for a single trial)."""
        extra = {"grad_norm": optimizer.grad_norm, "dist_from_init": dist_from_init,
                 "nonfinite_steps": self.step.new_zeros(()) if optimizer.nonfinite_steps is None
                 else optimizer.nonfinite_steps}
        if optimizer.clip_factor is not None:
            extra.update(clip_factor=optimizer.clip_factor, step_size=optimizer.step_size)
        regime = [self.regime.view(self.shape)] if self.regime is not None else []
        names = ["loss", "interval_loss", "best_loss", "nonfinite", "first_hit",
                 *(f"n_{r}" for r in REGIME_NAMES), *extra, *(["regime"] if regime else [])]
        values = [self.loss, self.interval_loss, self.best_loss, self.nonfinite, self.first_hit,
                  *self.regimes.unbind(-1), *extra.values(), *regime]
        device = self.best_loss.device
        columns = torch.stack([v.to(device, torch.float64).expand(self.shape).reshape(-1) for v in values]).tolist()
        members = []
        for numbers in zip(*columns):
            out = dict(zip(names, numbers))
            out["loss_avg"] = out.pop("interval_loss") / steps_in_interval
            out["nonfinite"] = bool(out["nonfinite"])
            out["first_hit"] = int(out["first_hit"])
            out["regime"] = REGIME_NAMES[int(out["regime"])] if regime else None
            members.append(out)
        self.interval_loss.zero_()
        self.regimes.zero_()
        return members
