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
