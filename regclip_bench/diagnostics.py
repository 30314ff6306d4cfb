"""Per-step training diagnostics, accumulated on the device and read back once per log interval; and
what is measured of any optimizer's step from outside it (‖g‖, ‖Δw‖)."""

from __future__ import annotations

import torch
from torch import Tensor

from .optim import REGIME_NAMES, OptimizerDiagnostics, classify_regime, global_grad_norm


def tensors_norm(tensors: list[Tensor]) -> Tensor:
    """‖(t₁, …, tₙ)‖ over every element of every tensor, on the device."""
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors)))


class StepMeasure:
    """‖g‖ and ‖Δw‖ of one step of any optimizer, from its parameters and their gradients — read
    before and after the step, on the device, no host sync (a logged step's only: the copy of the
    weights it needs is not free)."""

    def __init__(self, params: list[Tensor]) -> None:
        self.params = params

    def before(self) -> tuple[Tensor | None, list[Tensor]]:
        grads = [p.grad for p in self.params if p.grad is not None]
        return global_grad_norm(grads), [p.detach().clone() for p in self.params]

    def after(self, before: tuple[Tensor | None, list[Tensor]]) -> dict[str, Tensor | None]:
        grad_norm, weights = before
        return {"grad_norm": grad_norm,
                "update_norm": tensors_norm(torch._foreach_sub([p.detach() for p in self.params], weights))}


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

    def read(self, steps_in_interval: int, optimizer: OptimizerDiagnostics,
             measured: dict[str, Tensor | None]) -> dict[str, float]:
        """Everything, with the optimizer's last step and what was `measured` of it (‖g‖, ‖Δw‖,
        ‖w − w₀‖), as Python numbers (one host sync); resets the interval sums."""
        return self.read_members(steps_in_interval, optimizer, measured)[0]

    def read_members(self, steps_in_interval: int, optimizer: OptimizerDiagnostics,
                     measured: dict[str, Tensor | None]) -> list[dict[str, float]]:
        """`read`, one dict per member (one for a single trial)."""
        nan = self.best_loss.new_full((), float("nan"))
        extra = {**{k: nan if v is None else v for k, v in measured.items()},
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
