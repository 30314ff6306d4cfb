"""Which trials may share a pack (`packed.run_pack`: K configurations trained as one vmapped model),
decided without torch: the sweep's driver groups its trials into packs before any trial runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .identity import workload_key
from .optim.registry import OPTIMIZERS

if TYPE_CHECKING:
    from .config import TrialConfig


class PackError(ValueError):
    """These configurations cannot be packed together (the message says why)."""


SHARED = (("workload", lambda c: workload_key(c.task)), ("optimizer", lambda c: c.optimizer),
          ("learning-rate schedule", lambda c: repr(c.milestones)), ("device", lambda c: c.device))


def pack_key(config: TrialConfig) -> tuple:
    """What the members of a pack share: a workload, an optimizer, its schedule and a device."""
    return tuple(part(config) for _, part in SHARED)


def check_pack(configs: list[TrialConfig]) -> None:
    """PackError unless `configs` share a `pack_key` and can be vmapped."""
    if not configs:
        raise PackError("a pack needs at least one configuration")
    first = configs[0]
    for what, part in SHARED:
        if len(values := {part(c) for c in configs}) > 1:
            raise PackError(f"a pack's members must share one {what}; got {', '.join(sorted(map(str, values)))}")
    if first.entry.packed is None:
        packable = ", ".join(name for name, entry in OPTIMIZERS.items() if entry.packed is not None)
        raise PackError(f"optimizer {first.optimizer!r} has no packed kernel (packable: {packable}); "
                        "it runs unpacked")
    if first.task.budget.sharpness_every:
        raise PackError(f"task {first.task.name!r}: the sharpness diagnostic (budget.sharpness_every) is "
                        "measured per trial; run it unpacked")
    if first.task.model.family in BATCH_NORM_FAMILIES:
        raise PackError(f"task {first.task.name!r}: its model ({first.task.model.family}) has batch-norm "
                        "statistics, which vmap cannot update per member; run it unpacked")


BATCH_NORM_FAMILIES = ("resnet",)   # models whose training mode updates buffers


# On a GPU a small model's step is bound by kernel launches, not arithmetic: K members in one vmapped step
# cost about one (docs/benchmarks.md: the VAE in packs of 8 ran 4.6× faster on an H200).  A sweep that asks
# for GPUs and gives no --pack packs up to this many parameters' worth of members, K a power of two ≤ 64.
GPU_PACK_PARAMETERS = 4_000_000
GPU_PACK_MAX = 64


def parameters(task) -> int | None:
    """The task's model's parameter count, built on the meta device from the shapes its data section
    declares (None where they are known only once the data is read: a text corpus's vocabulary)."""
    shapes = task.data.shapes()
    if shapes is None:
        return None
    from .memory import count_parameters
    return count_parameters(task.model, *shapes)


def gpu_pack(tasks) -> tuple[int, int | None]:
    """(K, the largest model's parameter count) for a GPU sweep over `tasks`' workloads: as many members as
    fit GPU_PACK_PARAMETERS in the largest model, a power of two from 1 to GPU_PACK_MAX; 1 where a model
    cannot be packed (batch norm) or its size is unknown."""
    largest = 0
    for task in tasks:
        if task.model.family in BATCH_NORM_FAMILIES:
            return 1, None
        count = parameters(task)
        if count is None:
            return 1, None
        largest = max(largest, count)
    if not largest:
        return 1, None
    k = 1
    while k * 2 <= GPU_PACK_MAX and k * 2 * largest <= GPU_PACK_PARAMETERS:
        k *= 2
    return k, largest
