"""What produced a result: package versions, the suite's git commit, the hardware."""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import ray

from . import __version__
from ._lazy import Lazy

torch = Lazy("torch")   # read where a trial ran (a worker), which has imported it already


@functools.cache
def git_commit() -> str | None:
    """The suite's commit when it runs from a git checkout (a trailing + if it has changes)."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def provenance() -> dict[str, Any]:
    return {"regclip_bench_version": __version__, "git_commit": git_commit(),
            "torch_version": str(torch.__version__), "ray_version": ray.__version__,
            "python_version": sys.version.split()[0], "cpu_model": _cpu_model(),
            "gpu_model": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
