"""δ-regularized gradient clipping (δ-GClip), Tucat, Mukherjee et al., arXiv 2404.08624.

    w ← w − h(w)·∇L(w),   h(w) = η·min(1, max(δ, γ/‖∇L(w)‖))

where ‖·‖ is the Euclidean norm of the *whole* gradient: every parameter of every
param group.  δ = 0 is plain gradient clipping (GClip).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from numbers import Real

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer, ParamsT
from torch.utils._foreach_utils import _group_tensors_by_device_and_dtype

# Regime codes, as returned by `classify_regime`.
UNCLIPPED, CLIPPED, FLOOR = 0, 1, 2
REGIME_NAMES = ("unclipped", "clipped", "floor")

_Bucket = tuple[list[Tensor], list[Tensor], list[Tensor]]  # params, grads, per-tensor ‖grad‖


def _check_hparam(name: str, value: object, *, low: float, high: float = math.inf,
                  low_inclusive: bool) -> None:
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value >= low if low_inclusive else value > low) and value <= high
    if not ok:
        bound = f"{'>=' if low_inclusive else '>'} {low:g}"
        if high != math.inf:
            bound += f" and <= {high:g}"
        raise ValueError(f"invalid {name}={value!r}: must be a finite number {bound}")


def classify_regime(clip_factor: Tensor, delta: float) -> Tensor:
    """Regime of a step from its clip factor h/η: UNCLIPPED (h = η), FLOOR (h = ηδ) or CLIPPED.

    Works on device tensors without a host sync.  A factor that is both 1 and δ (δ = 1)
    counts as unclipped.  A non-finite factor counts as clipped.
    """
    code = torch.full_like(clip_factor, CLIPPED, dtype=torch.int8)
    code = torch.where(clip_factor == delta, FLOOR, code)
    return torch.where(clip_factor == 1.0, UNCLIPPED, code)


class DeltaGClip(Optimizer):
    r"""δ-regularized gradient clipping.

    Each step computes the global gradient norm ‖g‖ over all parameters of all param
    groups, then for each group

        h = lr · min(1, max(delta, gamma / ‖g‖)),    p ← p − lr·weight_decay·p − h·grad

    Args:
        params: parameters or param groups; a group may set its own ``lr``, ``gamma``,
            ``delta`` and ``weight_decay``.  The norm is always taken over all groups.
        lr: η, the largest step size (> 0).  LR schedulers scale it, and with it h.
        gamma: γ, the clipping threshold on ‖g‖ (> 0).
        delta: δ ∈ [0, 1], the floor of h/η.  0 is plain GClip; 1 is gradient descent.
        weight_decay: λ ≥ 0, *decoupled* as in AdamW: ``p ← p − lr·λ·p``, applied with
            the unclipped η and kept out of the gradient norm.
        per_tensor: use the norm of each parameter tensor instead of the global norm
            (the per-tensor variant, not the one the paper analyses); may be set per group.

    Diagnostics, all 0-d tensors on the device of the first gradient, written by every
    ``step()`` without a host sync (read them at log intervals, not every step):

    * ``last_grad_norm``: the global ‖g‖ of the last step (also with ``per_tensor``).
    * ``last_clip_factor`` / ``last_step_size``: h/η and h of the last step for the first
      param group (``group_clip_factors`` / ``group_step_sizes``: one per group).  With
      ``per_tensor`` they are those of the most-clipped tensor.  Use
      `classify_regime` to turn a clip factor into unclipped / clipped / floor.
    * ``nonfinite_steps``: how many steps had a NaN or infinite ‖g‖ (int64).

    A non-finite gradient is not checked for on the host (that would sync).  The step is
    applied as computed, so after one the weights are in general NaN or infinite too;
    the only use of such a model is to report the run as diverged, which is what
    ``nonfinite_steps > 0`` tells a training loop.  A zero gradient gives h = η and no
    change to the weights (beyond weight decay).  Parameters whose ``.grad`` is None are
    skipped and do not enter the norm.
    """

    def __init__(self, params: ParamsT, lr: float, gamma: float, delta: float,
                 weight_decay: float = 0.0, per_tensor: bool = False) -> None:
        defaults = dict(lr=lr, gamma=gamma, delta=delta, weight_decay=weight_decay,
                        per_tensor=per_tensor)
        for name, value in defaults.items():
            self._check(name, value)
        super().__init__(params, defaults)
        self._reset_diagnostics()

    def _reset_diagnostics(self) -> None:
        self.nonfinite_steps: Tensor | None = None
        self.last_grad_norm: Tensor | None = None
        self.group_clip_factors: list[Tensor] = []
        self._group_lrs: list[float] = []  # lr at the last step, for h = factor · lr

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "nonfinite_steps": self.nonfinite_steps}

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        count = state.pop("nonfinite_steps", None)
        super().__setstate__(state)
        self._reset_diagnostics()
        self.nonfinite_steps = count

    @staticmethod
    def _check(name: str, value: object) -> None:
        if name in ("lr", "gamma"):
            _check_hparam(name, value, low=0.0, low_inclusive=False)
        elif name == "delta":
            _check_hparam(name, value, low=0.0, high=1.0, low_inclusive=True)
        elif name == "weight_decay":
            _check_hparam(name, value, low=0.0, low_inclusive=True)
        elif name == "per_tensor" and not isinstance(value, bool):
            raise ValueError(f"invalid per_tensor={value!r}: must be True or False")

    def add_param_group(self, param_group: dict) -> None:
        for name in self.defaults:
            if name in param_group:
                self._check(name, param_group[name])
        super().add_param_group(param_group)

    @property
    def last_clip_factor(self) -> Tensor | None:
        return self.group_clip_factors[0] if self.group_clip_factors else None

    @property
    def group_step_sizes(self) -> list[Tensor]:
        """h of the last step, one per param group (computed when read)."""
        return [factor * lr for factor, lr in zip(self.group_clip_factors, self._group_lrs)]

    @property
    def last_step_size(self) -> Tensor | None:
        return self.group_clip_factors[0] * self._group_lrs[0] if self.group_clip_factors else None

    def state_dict(self) -> dict:
        state = super().state_dict()
        if self.nonfinite_steps is not None:
            state["nonfinite_steps"] = self.nonfinite_steps.clone()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        count = state_dict.pop("nonfinite_steps", None)
        super().load_state_dict(state_dict)
        self.nonfinite_steps = None if count is None else count.clone()

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        # Pass 1 reads every gradient for its norm; pass 2 updates.  Between them only a
        # handful of 0-d tensor ops: after streaming the gradients each costs a cache miss.
        buckets_per_group = [_buckets(group) for group in self.param_groups]
        grad_norm = _global_norm([norms for buckets in buckets_per_group
                                  for _, _, norms in buckets.values()])
        if grad_norm is None:
            return loss
        self._count_nonfinite(grad_norm)
        self.last_grad_norm = grad_norm

        self.group_clip_factors, self._group_lrs = [], []
        for group, buckets in zip(self.param_groups, buckets_per_group):
            lr, gamma, delta, wd = group["lr"], group["gamma"], group["delta"], group["weight_decay"]
            global_factor = None if group["per_tensor"] and buckets else (gamma / grad_norm).clamp_(delta, 1.0)
            tensor_factors = []
            for (device, dtype), (params, grads, norms) in buckets.items():
                if wd != 0:
                    torch._foreach_mul_(params, 1.0 - lr * wd)
                if global_factor is None:
                    factors = (gamma / torch.stack(norms)).clamp_(delta, 1.0)
                    tensor_factors.append(factors.min().to(grad_norm.device, grad_norm.dtype))
                    neg_h: Tensor | list[Tensor] = list((factors * -lr).unbind())
                else:
                    neg_h = global_factor * -lr
                    if neg_h.device != device or neg_h.dtype != dtype:
                        neg_h = neg_h.to(device, dtype)
                _add_scaled_(params, grads, neg_h)
            if global_factor is None:
                global_factor = torch.stack(tensor_factors).min() if len(tensor_factors) > 1 else tensor_factors[0]
            self.group_clip_factors.append(global_factor)
            self._group_lrs.append(lr)
        return loss

    def _count_nonfinite(self, grad_norm: Tensor) -> None:
        if self.nonfinite_steps is None:
            self.nonfinite_steps = torch.zeros((), dtype=torch.int64, device=grad_norm.device)
        elif self.nonfinite_steps.device != grad_norm.device:  # e.g. after load_state_dict
            self.nonfinite_steps = self.nonfinite_steps.to(grad_norm.device)
        self.nonfinite_steps.add_(torch.isfinite(grad_norm).logical_not_())


class GClip(DeltaGClip):
    """Plain gradient clipping: δ-GClip with delta = 0, h = lr·min(1, gamma/‖g‖)."""

    def __init__(self, params: ParamsT, lr: float, gamma: float, weight_decay: float = 0.0,
                 per_tensor: bool = False) -> None:
        super().__init__(params, lr=lr, gamma=gamma, delta=0.0, weight_decay=weight_decay,
                         per_tensor=per_tensor)


def _buckets(group: dict) -> dict[tuple[torch.device, torch.dtype], _Bucket]:
    """The group's parameters that have a gradient, by (device, dtype), with their gradient norms."""
    params = [p for p in group["params"] if p.grad is not None]
    if not params:
        return {}
    grads = [p.grad for p in params]
    if any(g.is_sparse for g in grads):
        raise RuntimeError("DeltaGClip does not support sparse gradients")
    grouped = _group_tensors_by_device_and_dtype([params, grads])
    return {key: (ps, gs, torch._foreach_norm(gs)) for key, ((ps, gs), _) in grouped.items()}


def _global_norm(norm_lists: list[list[Tensor]]) -> Tensor | None:
    """‖g‖ from per-tensor norms, combined on the first list's device in the widest dtype."""
    partials = [torch.linalg.vector_norm(torch.stack(norms)) for norms in norm_lists]
    if len(partials) <= 1:
        return partials[0] if partials else None
    device = partials[0].device
    dtype = functools.reduce(torch.promote_types, (n.dtype for n in partials))
    return torch.linalg.vector_norm(torch.stack([n.to(device, dtype) for n in partials]))


def _add_scaled_(params: list[Tensor], grads: list[Tensor], scale: Tensor | list[Tensor]) -> None:
    """params[i] += scale[i] · grads[i], with `scale` 0-d device tensor(s): no host sync."""
    scales = scale if isinstance(scale, list) else [scale] * len(params)
    if params[0].device.type == "cpu":
        # CPU foreach ops are per-tensor loops; addcmul_ reads p and g once, no temporaries.
        torch._foreach_addcmul_(params, grads, scales)
    elif isinstance(scale, list):
        torch._foreach_add_(params, torch._foreach_mul(grads, scales))
    else:
        # The Tensor-scalar overload keeps both ops on the fused multi-tensor path.
        torch._foreach_add_(params, torch._foreach_mul(grads, scale))
