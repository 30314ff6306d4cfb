"""SGD after ``torch.nn.utils.clip_grad_norm_``: the usual PyTorch clipping recipe, as a baseline."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from .base import check_value


class ClipSGD(torch.optim.SGD):
    """``clip_grad_norm_(all parameters, max_norm=gamma)``, then ``torch.optim.SGD``.

    Without momentum this is GClip up to clip_grad_norm_'s 1e-6 added to the norm; it
    differs in writing the clipped gradient back into ``.grad``.  ``weight_decay`` is
    SGD's (an L2 term added to the already clipped gradient).  ``last_grad_norm`` holds
    the norm of the last step as a 0-d device tensor (the training loop measures ‖g‖ itself).
    """

    def __init__(self, params: ParamsT, lr: float, gamma: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        check_value("gamma", gamma)
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
        for group in self.param_groups:
            group.setdefault("gamma", gamma)
        self.last_grad_norm: Tensor | None = None

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        if params:
            self.last_grad_norm = torch.nn.utils.clip_grad_norm_(
                params, max_norm=self.param_groups[0]["gamma"])
        super().step()
        return loss

