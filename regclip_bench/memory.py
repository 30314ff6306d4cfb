"""Out of memory is a result: see it coming before allocating, and recognise it when it happens."""

from __future__ import annotations

import torch

from .models import build_model

def parameter_count(task, data) -> int:
    """The model's parameter count for `data`'s shapes (`count_parameters`)."""
    return count_parameters(task.model, data.input_shape, data.num_outputs)


def count_parameters(model_spec, input_shape: tuple[int, ...], outputs: int) -> int:
    """A model's parameter count, built on the meta device (nothing allocated)."""
    with torch.device("meta"):
        model = build_model(model_spec, input_shape, outputs)
    return sum(p.numel() for p in model.parameters())


def memory_shortfall(task, data, state_copies: int, device: torch.device) -> str | None:
    """Why the model cannot fit in the device's free memory, or None when it can: weights,
    gradients, w₀ and the optimizer's state (`state_copies` copies of the weights: its entry's), in float32."""
    params = parameter_count(task, data)
    needed = params * 4 * (3 + state_copies)
    free = _free_memory(device)
    if free is None or needed <= free:
        return None
    return (f"out of memory: the model has {params:,} parameters, about {needed / 2**30:.1f} GiB with its "
            f"gradients and optimizer state; {free / 2**30:.1f} GiB are free on {device}")


def _free_memory(device: torch.device) -> int | None:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as info:
            return next(int(line.split()[1]) * 1024 for line in info if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return None


def is_out_of_memory(exc: BaseException) -> bool:
    """A CUDA out-of-memory error, or the CPU allocator's refusal (a RuntimeError in torch)."""
    return isinstance(exc, torch.OutOfMemoryError) or "can't allocate memory" in str(exc)
