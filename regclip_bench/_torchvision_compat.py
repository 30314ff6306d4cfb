"""Make ``import torchvision`` work beside a CPU-only torch.

A CUDA-linked torchvision wheel installed next to a CPU build of torch cannot load
its compiled operators, and its Python side then fails at import time with
"operator torchvision::nms does not exist" (it registers fake kernels for ``nms``
and ``qnms``).  Declaring the two operator schemas first lets the import succeed;
datasets, models and transforms work, while ``torchvision.ops.nms`` has no kernel
and raises if called.  On a proper install torchvision's compiled library loads here first
(it registers both operators) and this is a no-op: defining them before it loads would make its
own registration abort the process.

Import this module before torchvision (``regclip_bench.vision`` does).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

import torch

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}

# Kept alive for the life of the process: dropping the Library deregisters its ops.
_library: torch.library.Library | None = None


def _has_op(name: str) -> bool:
    try:
        getattr(torch.ops.torchvision, name)
    except (AttributeError, RuntimeError):
        return False
    return True


def _load_compiled_library() -> None:
    """Load torchvision's compiled operators, as its own import would, where they load."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = Path(spec.origin).parent / f"_C{suffix}"
        if path.is_file():
            try:
                torch.ops.load_library(str(path))
            except OSError:   # linked against another torch build: the case this module is for
                pass
            return


def ensure_torchvision_importable() -> list[str]:
    """Define the torchvision operator schemas its compiled library did not; return the names defined."""
    global _library
    if not all(_has_op(name) for name in _SCHEMAS):
        _load_compiled_library()
    missing = [name for name in _SCHEMAS if not _has_op(name)]
    if missing:
        if _library is None:
            _library = torch.library.Library("torchvision", "FRAGMENT")
        for name in missing:
            _library.define(_SCHEMAS[name])
    return missing


ensure_torchvision_importable()
