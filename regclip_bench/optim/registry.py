"""Every optimizer the suite ships, one `OptimizerEntry` each (the contract: optim/base.py), and the
one lookup of an optimizer by name — a built-in, a registered plug-in, an installed package's entry
point (group `regclip_bench.optimizers`), or a reference `package.module:Name` (optim/plugins.py).

Adding an optimizer is one file (its class, beside this one) and one entry below.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from typing import TYPE_CHECKING

from .._lazy import Lazy
from ..errors import ConfigError, unknown
from .base import Hyperparameter, OptimizerEntry

if TYPE_CHECKING:
    from torch.optim.optimizer import Optimizer, ParamsT

# The classes and kernels, imported when first built or run (the entries below are read without torch).
_HERE = __name__.rpartition(".")[0]
DeltaGClip, GClip, ClipSGD = (Lazy(f"{_HERE}.delta_gclip:DeltaGClip"), Lazy(f"{_HERE}.delta_gclip:GClip"),
                              Lazy(f"{_HERE}.clip_sgd:ClipSGD"))
clip_kernel, sgd_kernel, adam_kernel, adamw_kernel = (Lazy(f"{_HERE}.packed:{k}") for k in (
    "clip_kernel", "sgd_kernel", "adam_kernel", "adamw_kernel"))


def _sgd(params: ParamsT, *, lr: float, momentum: float = 0.0, nesterov: bool = False,
         weight_decay: float = 0.0) -> Optimizer:
    import torch
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)


def _adam(params: ParamsT, *, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
          decoupled: bool = False) -> Optimizer:
    import torch
    kind = torch.optim.AdamW if decoupled else torch.optim.Adam
    return kind(params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)


H = Hyperparameter.of
LR, GAMMA, DELTA = H("lr"), H("gamma"), H("delta")
ADAM = (LR, H("beta1", 0.9), H("beta2", 0.999), H("eps", 1e-8))


def _weight_decay(default: float = 0.0) -> Hyperparameter:
    return H("weight_decay", default)


# In legend order.  Colours: Okabe & Ito's eight ("Color Universal Design", 2008), distinct under every
# common colour-blindness; the pure yellow darkened to show on white (report/colors.py extends them).
OPTIMIZERS: dict[str, OptimizerEntry] = {e.name: e for e in (
    OptimizerEntry("delta_gclip", DeltaGClip, (LR, GAMMA, DELTA, _weight_decay()), "δ-GClip", "#D55E00",
                   clips=True, regime=True, packed=clip_kernel, capturable=True),
    OptimizerEntry("gclip", GClip, (LR, GAMMA, _weight_decay()), "GClip", "#0072B2",
                   clips=True, regime=True, packed=clip_kernel, capturable=True),
    OptimizerEntry("delta_gclip_per_tensor", Lazy(f"{_HERE}.delta_gclip:DeltaGClip", per_tensor=True),
                   (LR, GAMMA, DELTA, _weight_decay()), "per-tensor δ-GClip", "#CC79A7", clips=True, regime=True,
                   capturable=True),
    OptimizerEntry("sgd", _sgd, (LR, _weight_decay()), "SGD", "#000000", packed=sgd_kernel, capturable=True),
    OptimizerEntry("sgd_momentum", _sgd, (LR, H("momentum", 0.9), H("nesterov", False), _weight_decay()),
                   "SGD with momentum", "#009E73", state_copies=1, packed=sgd_kernel, capturable=True),
    OptimizerEntry("adam", _adam, (*ADAM, _weight_decay()), "Adam", "#E69F00", state_copies=2, packed=adam_kernel),
    OptimizerEntry("adamw", functools.partial(_adam, decoupled=True), (*ADAM, _weight_decay(0.01)), "AdamW",
                   "#B8A000", state_copies=2, packed=adamw_kernel),
    OptimizerEntry("clip_sgd", ClipSGD, (LR, GAMMA, H("momentum", 0.0), _weight_decay()), "clip-norm SGD",
                   "#56B4E9", state_copies=1, clips=True, capturable=True),
)}

_PLUGINS: dict[str, OptimizerEntry] = {}


def register(entry: OptimizerEntry) -> OptimizerEntry:
    """Make a plug-in's entry known by its name in this process (again: the same entry, a no-op)."""
    if entry.name in OPTIMIZERS:
        raise ConfigError(f"optimizer {entry.name!r} ({entry.origin}): a plug-in cannot take a built-in "
                          "optimizer's name; give it another (NAME=module:Class)")
    known = _PLUGINS.get(entry.name)
    if known is not None and (known.origin, known.source_sha256) != (entry.origin, entry.source_sha256):
        raise ConfigError(f"optimizer {entry.name!r}: two plug-ins of that name ({known.origin}, {entry.origin})")
    _PLUGINS[entry.name] = entry
    return entry


def lookup(name: str, plugin: Mapping[str, Any] | None = None) -> OptimizerEntry:
    """The entry of optimizer `name` — a built-in, a registered plug-in, a reference `[NAME=]module:Class`,
    or an installed entry point — loading a plug-in from its `plugin` descriptor (`plugins.descriptor`)
    where this process does not know it yet; a ConfigError for anything else."""
    if name in OPTIMIZERS:
        return OPTIMIZERS[name]
    if name in _PLUGINS:
        return _PLUGINS[name]
    from . import plugins
    if plugin is not None:
        return register(plugins.load(plugin))
    if ":" in name:
        return register(plugins.from_reference(name))
    found = plugins.from_entry_point(name)
    if found is None:
        raise ConfigError(unknown("optimizer", name, names()))
    return register(found)


def names() -> list[str]:
    """The built-ins, then the plug-ins registered or installed (entry points are not loaded)."""
    from .plugins import entry_point_names
    return list(OPTIMIZERS) + sorted(set(_PLUGINS) | set(entry_point_names()))


def registered() -> dict[str, OptimizerEntry]:
    """The entries this process knows: the built-ins and the plug-ins registered so far."""
    return {**OPTIMIZERS, **_PLUGINS}


def hyperparameter_names() -> tuple[str, ...]:
    """Every hyperparameter name an optimizer known in this process takes (what `--set` accepts)."""
    return tuple(sorted({h.name for e in registered().values() for h in e.hyperparameters}))


def make_optimizer(name: str, params: ParamsT, **hparams: Any) -> Optimizer:
    """Build optimizer `name` over `params` from `hparams` and its defaults, checked: for code that
    has no resolved trial (tests, the demo).  A trial builds from its resolved values
    (`TrialConfig.make_optimizer`)."""
    entry = lookup(name)
    return entry.build(params, **entry.resolve(hparams))
