"""The one way the package imports torchvision: after the compatibility shim."""

from . import _torchvision_compat  # noqa: F401  (must run before torchvision is imported)
import torchvision  # noqa: E402

__all__ = ["torchvision"]
