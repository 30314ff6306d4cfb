"""δ-regularized gradient clipping (δ-GClip), Tucat, Mukherjee et al., arXiv 2404.08624.

    w ← w − h(w)·∇L(w),   h(w) = η·min(1, max(δ, γ/‖∇L(w)‖))

where ‖·‖ is the Euclidean norm of the *whole* gradient: every parameter of every
param group.  δ = 0 is plain gradient clipping (GClip).

As in torch.optim, the optimizer class only gathers tensors and records diagnostics; the update
is a pure function of lists of tensors (`global_grad_norm`, `delta_gclip_`,
`delta_gclip_per_tensor_`), dispatched to foreach kernels per (device, dtype).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer, ParamsT
from torch.utils._foreach_utils import _group_tensors_by_device_and_dtype

from .base import CLIPPED, FLOOR, UNCLIPPED, OptimizerDiagnostics, check_value


def classify_regime(clip_factor: Tensor, delta: float) -> Tensor:
    """Regime of a step from its clip factor h/η: UNCLIPPED (h = η), FLOOR (h = ηδ) or CLIPPED.

    Works on device tensors without a host sync.  A factor that is both 1 and δ (δ = 1)
    counts as unclipped.  A non-finite factor counts as clipped.
    """
    code = torch.full_like(clip_factor, CLIPPED, dtype=torch.int8)
    code = torch.where(clip_factor == delta, FLOOR, code)
    return torch.where(clip_factor == 1.0, UNCLIPPED, code)


# --- the pure kernels ------------------------------------------------------------------------

def _by_device_and_dtype(*lists: list[Tensor]) -> list[tuple[tuple[torch.device, torch.dtype], list]]:
    return [(key, tensors) for key, (tensors, _) in _group_tensors_by_device_and_dtype(list(lists)).items()]


def grad_norms(grads: list[Tensor]) -> list[Tensor]:
    """Each gradient's norm (0-d tensors on its device), by foreach kernels."""
    norms: dict[int, Tensor] = {}
    for _, (group,) in _by_device_and_dtype(grads) if grads else []:
        norms.update(zip(map(id, group), torch._foreach_norm(group)))
    return [norms[id(g)] for g in grads]


def global_grad_norm(grads: list[Tensor], norms: list[Tensor] | None = None) -> Tensor | None:
    """‖g‖ over all the gradients, on the first one's device in the widest dtype; None for none.
    `norms`: their per-tensor norms, when already computed."""
    if not grads:
        return None
    norms = grad_norms(grads) if norms is None else norms
    partials = [torch.linalg.vector_norm(torch.stack(group)) for _, (group,) in _by_device_and_dtype(norms)]
    if len(partials) == 1:
        return partials[0]
    device = norms[0].device
    dtype = functools.reduce(torch.promote_types, (n.dtype for n in partials))
    return torch.linalg.vector_norm(torch.stack([n.to(device, dtype) for n in partials]))


def clip_factor(grad_norm: Tensor, gamma: float | Tensor, delta: float | Tensor) -> Tensor:
    """δ-GClip's rule, h/η = min(1, max(δ, γ/‖g‖)) (GClip: δ = 0); γ and δ numbers, or tensors that
    broadcast against ‖g‖ (a pack's members).  A non-finite ‖g‖ gives a non-finite factor."""
    factor = gamma / grad_norm
    if isinstance(delta, Tensor):
        return factor.clamp_(min=delta).clamp_(max=1.0)
    return factor.clamp_(delta, 1.0)


def delta_gclip_(params: list[Tensor], grads: list[Tensor], *, grad_norm: Tensor, lr: float, gamma: float,
                 delta: float, weight_decay: float = 0.0) -> Tensor:
    """params ← params·(1 − lr·λ) − lr·f·grads with f = clamp(γ/‖g‖, δ, 1); returns f (0-d, on
    ‖g‖'s device).  No host sync."""
    factor = clip_factor(grad_norm, gamma, delta)
    for (device, dtype), (ps, gs) in _by_device_and_dtype(params, grads):
        if weight_decay != 0:
            torch._foreach_mul_(ps, 1.0 - lr * weight_decay)
        _add_scaled_(ps, gs, (factor * -lr).to(device, dtype))
    return factor


def delta_gclip_per_tensor_(params: list[Tensor], grads: list[Tensor], *, grad_norms: list[Tensor], lr: float,
                            gamma: float, delta: float, weight_decay: float = 0.0) -> Tensor:
    """The per-tensor variant: each tensor clipped by its own norm (`grad_norms`, one per
    gradient); returns the smallest factor (on the first norm's device).  No host sync."""
    factors = clip_factor(torch.stack([n.to(grad_norms[0].device, grad_norms[0].dtype) for n in grad_norms]),
                          gamma, delta)
    scales = list((factors * -lr).unbind())
    for (device, dtype), (ps, gs, ss) in _by_device_and_dtype(params, grads, scales):
        if weight_decay != 0:
            torch._foreach_mul_(ps, 1.0 - lr * weight_decay)
        _add_scaled_(ps, gs, [s.to(device, dtype) for s in ss])
    return factors.min()


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


# --- the optimizer -------------------------------------------------------------------------

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
    ``step()`` without a host sync (read them at log intervals, not every step), and
    together as `diagnostics()`:

    * ``last_grad_norm``: the global ‖g‖ of the last step (also with ``per_tensor``).
    * ``last_clip_factor`` / ``last_step_size``: h/η and h of the last step for the first
      param group (``group_clip_factors`` / ``group_step_sizes``: one per group).  With
      ``per_tensor`` they are those of the most-clipped tensor.  Use
      `classify_regime` to turn a clip factor into unclipped / clipped / floor.
    * ``nonfinite_steps``: how many steps had a NaN or infinite ‖g‖ (int64; kept in the
      optimizer's state, so `state_dict()` and pickling carry it).

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
        _check(defaults)
        super().__init__(params, defaults)
        self.last_grad_norm: Tensor | None = None
        self.group_clip_factors: list[Tensor] = []
        self._group_lrs: list[float] = []  # lr at the last step, for h = factor · lr

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self.last_grad_norm, self.group_clip_factors, self._group_lrs = None, [], []

    def add_param_group(self, param_group: dict) -> None:
        _check({k: v for k, v in param_group.items() if k in self.defaults})
        super().add_param_group(param_group)

    @property
    def nonfinite_steps(self) -> Tensor | None:
        return self.state.get("nonfinite_steps")

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

    def diagnostics(self, full: bool = True) -> OptimizerDiagnostics:
        """The last step's; `full=False`: only what is free to give every step (no step size)."""
        return OptimizerDiagnostics(self.last_grad_norm, self.last_clip_factor,
                                    self.last_step_size if full else None, self.nonfinite_steps,
                                    floor=self.param_groups[0]["delta"])

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # Pass 1 reads every gradient for its norm; pass 2 updates.  Between them only a
        # handful of 0-d tensor ops: after streaming the gradients each costs a cache miss.
        groups = [[p for p in group["params"] if p.grad is not None] for group in self.param_groups]
        grads = [[p.grad for p in params] for params in groups]
        flat = [g for gs in grads for g in gs]
        if not flat:
            return loss
        if any(g.is_sparse for g in flat):
            raise RuntimeError("DeltaGClip does not support sparse gradients")
        norms = grad_norms(flat)
        grad_norm = global_grad_norm(flat, norms)
        count = self.state.get("nonfinite_steps")
        if count is None or count.device != grad_norm.device:   # first step, or after load_state_dict
            count = self.state["nonfinite_steps"] = torch.zeros((), dtype=torch.int64, device=grad_norm.device) \
                if count is None else count.to(grad_norm.device)
        count.add_(torch.isfinite(grad_norm).logical_not_())
        self.last_grad_norm = grad_norm

        self.group_clip_factors, self._group_lrs = [], []
        start = 0
        for group, params, gs in zip(self.param_groups, groups, grads):
            hparams = {k: group[k] for k in ("lr", "gamma", "delta", "weight_decay")}
            mine, start = norms[start:start + len(gs)], start + len(gs)
            if not params:
                factor = clip_factor(grad_norm, group["gamma"], group["delta"])
            elif group["per_tensor"]:
                factor = delta_gclip_per_tensor_(params, gs, grad_norms=mine, **hparams)
            else:
                factor = delta_gclip_(params, gs, grad_norm=grad_norm, **hparams)
            self.group_clip_factors.append(factor.to(grad_norm.device, grad_norm.dtype))
            self._group_lrs.append(group["lr"])
        return loss


def _check(arguments: dict) -> None:
    for name, value in arguments.items():
        if name == "per_tensor":
            if not isinstance(value, bool):
                raise ValueError(f"invalid per_tensor={value!r}: must be true or false")
        else:
            check_value(name, value)


class GClip(DeltaGClip):
    """Plain gradient clipping: δ-GClip with delta = 0, h = lr·min(1, gamma/‖g‖)."""

    def __init__(self, params: ParamsT, lr: float, gamma: float, weight_decay: float = 0.0,
                 per_tensor: bool = False) -> None:
        super().__init__(params, lr=lr, gamma=gamma, delta=0.0, weight_decay=weight_decay,
                         per_tensor=per_tensor)
