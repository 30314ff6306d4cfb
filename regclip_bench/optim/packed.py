"""Optimizers for packed trials: K members' parameters stacked along a leading dimension, each
member with its own hyperparameters ([K] tensors) and its own state.

The update rules are the unpacked optimizers' — δ-GClip's clip factor is the same function
(`clip_factor`), SGD's and Adam's follow torch.optim's single-tensor code — applied per member;
a member's global gradient norm is over its own slice of every tensor.  No host sync.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from .base import OptimizerDiagnostics, OptimizerEntry
from .delta_gclip import clip_factor

_SHARED = ("nesterov",)   # must be equal across a pack's members


def member_norms(tensors: list[Tensor]) -> Tensor:
    """‖t‖ per member over all `tensors` ([K, …] each): a [K] tensor."""
    k = tensors[0].shape[0]
    per_tensor = torch.stack([torch.linalg.vector_norm(t.reshape(k, -1), dim=1) for t in tensors])
    return torch.linalg.vector_norm(per_tensor, dim=0)


def _per_member(values: Tensor, like: Tensor) -> Tensor:
    """[K] → [K, 1, …, 1], to broadcast against a stacked tensor `like`."""
    return values.view(-1, *([1] * (like.dim() - 1)))


class PackedOptimizer:
    """One optimizer for K members: `step(grads)` updates the stacked `params` in place with the
    entry's packed kernel (`OptimizerEntry.packed`, one of the functions below)."""

    def __init__(self, entry: OptimizerEntry, params: list[Tensor], hparams: list[Mapping[str, Any]]) -> None:
        if entry.packed is None:
            raise ValueError(f"optimizer {entry.name!r} has no packed kernel")
        members = [dict(h) for h in hparams]   # resolved: every hyperparameter given
        for key in _SHARED:
            if len({m.get(key) for m in members}) > 1:
                raise ValueError(f"a pack's members must share {key}; got {sorted({m.get(key) for m in members})}")
        device, self.dtype = params[0].device, params[0].dtype
        self.entry, self.params, self.k = entry, params, len(members)
        self.nesterov = bool(members[0].get("nesterov", False))
        values: dict[str, list[float]] = {}
        for m in members:
            for key, value in m.items():
                if key not in _SHARED:
                    values.setdefault(key, []).append(value)
        if "delta" not in values and entry.regime:   # GClip: δ = 0
            values["delta"] = [0.0] * self.k
        self.base_lr, self.values, self.lr_values = values.pop("lr"), values, None
        # float64, as torch.optim computes these in Python floats; δ-GClip's γ and δ in the weights' dtype,
        # as the unpacked kernel's clamp sees them
        self.h = {key: torch.tensor(v, dtype=self.dtype if key in ("gamma", "delta") else torch.float64,
                                    device=device) for key, v in values.items()}
        self.set_lrs(self.base_lr)
        # "step": a host number, which a CUDA graph's replays leave as it was: only Adam's kernel reads it, which
        # is why Adam and AdamW are not `capturable`
        self.state: dict[str, Any] = {"step": 0, "nonfinite_steps": torch.zeros(self.k, dtype=torch.int64, device=device)}
        self.clips = entry.regime   # reports h/η: δ-GClip and GClip
        self.last_grad_norm: Tensor | None = None
        self.last_clip_factor: Tensor | None = None

    def set_lrs(self, values: list[float]) -> None:
        """Each member's η (a step schedule's: `TrialConfig.lr_at` of its base).  The [K] tensor is made
        anew only when a value changes: making it copies from the host, which waits for a GPU."""
        if values == self.lr_values:
            return
        self.lr_values = list(values)
        self.lr = torch.tensor(self.lr_values, dtype=torch.float64, device=self.params[0].device)

    @torch.no_grad()
    def step(self, grads: list[Tensor], measure: bool = True) -> None:
        """One step of every member; `measure`: compute ‖g‖ per member for the diagnostics even
        where the rule does not need it."""
        self.state["step"] += 1
        norm = member_norms(grads) if (self.clips or measure) else None
        if norm is not None:
            self.last_grad_norm = norm
        if self.clips:   # as unpacked: only δ-GClip and GClip count non-finite steps
            self.state["nonfinite_steps"].add_(torch.isfinite(norm).logical_not_())
        self.entry.packed(self, grads, norm)

    def cast(self, values: Tensor) -> Tensor:
        return values.to(self.dtype)

    def diagnostics(self) -> OptimizerDiagnostics:
        """[K] tensors: the members' last ‖g‖, clip factor and step size, and non-finite counts."""
        if not self.clips:
            return OptimizerDiagnostics(self.last_grad_norm, nonfinite_steps=self.state["nonfinite_steps"])
        return OptimizerDiagnostics(self.last_grad_norm, self.last_clip_factor,
                                    self.last_clip_factor * self.cast(self.lr),
                                    self.state["nonfinite_steps"], floor=self.h["delta"])

    def state_dict(self) -> dict[str, Any]:
        return {"state": self.state, "base_lr": self.base_lr, "lr_values": self.lr_values}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.state = state["state"]
        self.base_lr = state["base_lr"]
        self.set_lrs(state["lr_values"])


# --- the per-member kernels (an entry's `packed`) -----------------------------------------------

def clip_kernel(opt: PackedOptimizer, grads: list[Tensor], norm: Tensor) -> None:
    """δ-GClip and GClip: the unpacked rule's `clip_factor`, per member."""
    factor = clip_factor(norm, opt.h["gamma"], opt.h["delta"])
    opt.last_clip_factor = factor
    scale = factor * -opt.lr.to(opt.dtype)
    decay = (1.0 - opt.lr * opt.h["weight_decay"]).to(opt.dtype)
    for p, g in zip(opt.params, grads):
        if any(opt.values["weight_decay"]):
            p.mul_(_per_member(decay, p))
        p.add_(g * _per_member(scale, p))


def sgd_kernel(opt: PackedOptimizer, grads: list[Tensor], norm: Tensor | None) -> None:
    """torch.optim.SGD's single-tensor rule, with momentum where the members have it."""
    momentum = "momentum" in opt.values
    buffers = opt.state.setdefault("momentum_buffer", [None] * len(opt.params))
    lr = opt.cast(-opt.lr)
    for i, (p, g) in enumerate(zip(opt.params, grads)):
        if any(opt.values["weight_decay"]):
            g = g + _per_member(opt.cast(opt.h["weight_decay"]), p) * p
        if momentum:
            mu = _per_member(opt.cast(opt.h["momentum"]), p)
            if buffers[i] is None:
                buffers[i] = g.clone()
            else:
                buffers[i].mul_(mu).add_(g)
            g = g + mu * buffers[i] if opt.nesterov else buffers[i]
        p.add_(g * _per_member(lr, p))


def adam_kernel(opt: PackedOptimizer, grads: list[Tensor], norm: Tensor | None, decoupled: bool = False) -> None:
    """torch.optim.Adam's single-tensor rule (AdamW's with `decoupled`)."""
    t = opt.state["step"]
    m_all = opt.state.setdefault("exp_avg", [torch.zeros_like(p) for p in opt.params])
    v_all = opt.state.setdefault("exp_avg_sq", [torch.zeros_like(p) for p in opt.params])
    b1, b2, eps, wd = opt.h["beta1"], opt.h["beta2"], opt.h["eps"], opt.h["weight_decay"]
    c = opt.cast
    step_size, bias2_sqrt = c(opt.lr / (1 - b1 ** t)), c((1 - b2 ** t).sqrt())
    for p, g, m, v in zip(opt.params, grads, m_all, v_all):
        if any(opt.values["weight_decay"]):
            if decoupled:
                p.mul_(_per_member(c(1 - opt.lr * wd), p))
            else:
                g = g + _per_member(c(wd), p) * p
        m.lerp_(g, _per_member(c(1 - b1), p))
        v.mul_(_per_member(c(b2), p)).addcmul_(g, g * _per_member(c(1 - b2), p))
        denom = (v.sqrt() / _per_member(bias2_sqrt, p)).add_(_per_member(c(eps), p))
        p.add_((m / denom) * _per_member(-step_size, p))


def adamw_kernel(opt: PackedOptimizer, grads: list[Tensor], norm: Tensor | None) -> None:
    adam_kernel(opt, grads, norm, decoupled=True)
