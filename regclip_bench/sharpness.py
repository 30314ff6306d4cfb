"""Sharpness: the top eigenvalue of the training loss's Hessian (Cohen et al. 2021, "Gradient Descent
on Neural Networks Typically Occurs at the Edge of Stability"), by power iteration on Hessian-vector
products (`torch.func.vjp` of `torch.func.grad`: the Hessian is symmetric, so its vector-Jacobian
product is the Hessian-vector product).

Gradient descent with step η is stable on a quadratic only while the sharpness is below 2/η; δ-GClip
never steps by less than ηδ, so its own limit is 2/(ηδ).  Each measurement costs `iterations`
Hessian-vector products, about two gradients each; off unless a task sets `budget.sharpness_every`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import functional_call, grad, vjp


def top_eigenvalue(loss: Callable[[dict[str, Tensor]], Tensor], params: dict[str, Tensor],
                   iterations: int = 20, seed: int = 0) -> float:
    """The eigenvalue of largest magnitude of ∇²loss at `params`, as the Rayleigh quotient of the last
    power-iteration vector (the start is seeded, so the trial's random streams are untouched)."""
    generator = torch.Generator().manual_seed(seed)
    v = {k: torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device) for k, p in params.items()}
    _, hessian_vector = vjp(grad(loss), params)
    value = torch.zeros(())
    for _ in range(iterations):
        norm = torch.sqrt(sum((u * u).sum() for u in v.values()))
        v = {k: u / norm for k, u in v.items()}
        (hv,) = hessian_vector(v)
        value = sum((u * h).sum() for u, h in zip(v.values(), hv.values()))
        v = hv
    return float(value)


def model_sharpness(kind, model: torch.nn.Module, x: Tensor, y: Tensor, iterations: int = 20) -> float:
    """The sharpness of `kind`'s training loss on the batch (x, y) at the model's current weights; the
    model's buffers (BatchNorm statistics) and the RNG are left as they were."""
    params = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    buffers = {k: b.clone() for k, b in model.named_buffers()}
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        return top_eigenvalue(lambda p: kind.loss(lambda inputs: functional_call(model, (p, buffers), (inputs,)), x, y),
                              params, iterations)
