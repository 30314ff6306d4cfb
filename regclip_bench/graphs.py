"""A training step replayed from a CUDA graph: on a GPU a small model's step is bound by kernel
launches (issue 31), and a graph launches all of them — forward, backward, the optimizer's update and
the device-side diagnostics — as one.

`CapturedStep(step, device)` wraps `step(*inputs)`, one whole training step that never syncs with the
host.  Each call runs one step:

* the first `WARMUP` steps run as they are, on a side stream on CUDA: what is made lazily (an
  optimizer's momentum buffers, cuBLAS's workspaces) is made there, as torch.cuda.graph's docs ask; the
  capture is on that stream too (`CUDAGraph.capture_begin`/`capture_end`, each graph in its own memory pool);
* then a step is captured when its inputs' shapes and dtypes and its `key` — the Python numbers the
  step reads, which a graph keeps as they were when it was captured (η) — are the previous step's,
  and the graph is replayed, its inputs copied into the graph's own, for as long as they stay so;
* a step that differs (an epoch's short last batch, a new η at a milestone) runs as it is and the
  graph is dropped: what a step leaves in Python attributes (an optimizer's last clip factor, the
  diagnostics' last loss) are from then on that step's tensors, which no replay would write.

A captured step runs the same kernels in the same order as the step run as it is, random draws included
(a graph replays the default generator's Philox stream at the offsets the eager steps would use), so a
trial's numbers do not depend on it — what tests/test_graphs.py's CUDA tests check.  Capture needs a step
whose update keeps no per-step value on the host: `OptimizerEntry.capturable` says which optimizers qualify.  On any device but CUDA nothing is
captured: every step runs as it is, through this same code (what the CPU tests cover), and `captures`
counts the graphs a GPU would have made.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import torch

WARMUP = 3   # steps run as they are before the first capture (torch.cuda.graph's docs use 3)


class CapturedStep:
    made = 0   # CUDA graphs made in this process (a test's evidence that a GPU run captured)

    def __init__(self, step: Callable[..., Any], device: torch.device) -> None:
        self.step, self.cuda = step, device.type == "cuda"
        self.stream = torch.cuda.Stream(device) if self.cuda else None
        self.live = False                      # a graph (elsewhere: the step) is being replayed
        self.graph: torch.cuda.CUDAGraph | None = None
        self.inputs: list[torch.Tensor] = []   # the graph's inputs: each call's are copied into them
        self.outputs: Any = None               # what the captured step returned; each replay rewrites it
        self.signature: tuple | None = None    # the last step's key and inputs' shapes and dtypes
        self.eager_steps = 0
        self.captures = 0                      # graphs made (on CUDA) or that would have been (elsewhere)

    def __call__(self, key: Hashable, *inputs: torch.Tensor) -> Any:
        signature = (key, *((tuple(t.shape), t.dtype) for t in inputs))
        same, self.signature = signature == self.signature, signature
        if self.live and same:
            return self._replay(inputs)
        self._drop()
        if self.eager_steps < WARMUP or not same:
            return self._eager(inputs)
        return self._capture(inputs)

    def _drop(self) -> None:
        """No graph from here on (its memory is freed with the last tensor that used it)."""
        self.live, self.graph, self.inputs, self.outputs = False, None, [], None

    def _eager(self, inputs) -> Any:
        self.eager_steps += 1
        if not (self.cuda and self.eager_steps <= WARMUP):
            return self.step(*inputs)
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            out = self.step(*inputs)
        torch.cuda.current_stream().wait_stream(self.stream)
        return out

    def _capture(self, inputs) -> Any:
        self.captures += 1
        self.live = True
        if not self.cuda:
            return self.step(*inputs)
        self.inputs = [t.clone() for t in inputs]
        CapturedStep.made += 1
        self.graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize()   # as torch.cuda.graph does: nothing earlier still running
        with torch.cuda.stream(self.stream):   # records the step; nothing runs until the replay below
            self.graph.capture_begin()
            try:
                self.outputs = self.step(*self.inputs)
            except BaseException:
                # What broke the capture (an op that syncs, a time limit) is what the trial reports, not the
                # error that ending a broken capture may raise in turn.
                try:
                    self.graph.capture_end()
                except Exception:   # noqa: BLE001
                    pass
                self._drop()
                raise
            self.graph.capture_end()
        self.graph.replay()
        return self.outputs

    def _replay(self, inputs) -> Any:
        if not self.cuda:
            return self.step(*inputs)
        for static, given in zip(self.inputs, inputs):
            static.copy_(given)
        self.graph.replay()
        return self.outputs
