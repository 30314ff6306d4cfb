"""The contract between a kind of task and the training loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from .._lazy import Lazy

if TYPE_CHECKING:
    from torch import Tensor, nn

torch = Lazy("torch")   # a kind's metadata (name, metrics, families) is read without torch


class Kind:
    """Subclass it in a module of this package; `name` is the task's `loss:` value."""

    name: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]]            # what `evaluate` reports, e.g. ("test_loss",)
    families: ClassVar[tuple[str, ...]] = ()     # model families only this kind trains
    sources: ClassVar[tuple[str, ...]] = ()      # the data sources it needs (none: any in memory)

    def loss(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        """The training loss of a batch (what `backward()` is called on)."""
        raise NotImplementedError

    def batch_metrics(self, model: nn.Module, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        """Each metric of `metrics`, summed over the batch (0-d device tensors)."""
        raise NotImplementedError

    def probe(self, model: nn.Module, sample: tuple[Tensor, Tensor]) -> float:
        """The training loss on a fixed training sample (`data.probe()`), in evaluation mode, the RNG
        untouched: what tells progress from none."""
        model.eval()
        device = sample[0].device
        with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            return self.loss(model, *sample).item()

    def evaluate(self, model: nn.Module, data, chunk: int = 1024) -> dict[str, float]:
        """The metrics on the test split, as means over its examples; the RNG is left untouched,
        so evaluating does not change training."""
        model.eval()
        n = len(data.test_x)
        device = data.test_x.device
        with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            sums = [self.batch_metrics(model, data.inputs(data.test_x[i:i + chunk]), data.test_y[i:i + chunk])
                    for i in range(0, n, chunk)]
            totals = torch.stack([torch.stack([s[m] for m in self.metrics]) for s in sums]).sum(0).tolist()
        return {m: total / n for m, total in zip(self.metrics, totals)}
