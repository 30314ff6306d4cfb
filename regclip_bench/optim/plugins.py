"""Plug-in optimizers: any `torch.optim.Optimizer` subclass, or a factory returning one, as an
`OptimizerEntry` — named by a reference `[NAME=]package.module:Name`, by an installed package's entry
point (group `regclip_bench.optimizers`, which may also give a whole `OptimizerEntry`), or by a
submission folder's file (`submit.py`).

Its hyperparameters are read from the signature: every argument after the parameters with a number,
a flag or a tuple of numbers as default (a tuple `betas` becomes `beta1`, `beta2`: the suite's
hyperparameters are scalars), an argument without a default is required; torch.optim's
implementation flags (foreach, fused, …) and arguments defaulting to None are left to the class.
Names of the shared vocabulary (lr, beta1, eps, weight_decay, …) get its ranges.

A plug-in is code and runs with the user's privileges (docs/security.md).  Nothing here runs when a
store is read or a page is built: only naming a plug-in in a sweep, `train` or `submit` loads it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.metadata
import inspect
import sys
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch.optim import Optimizer

from ..deadline import Deadline, TrialTimeout
from ..errors import ConfigError, check_name
from .base import REQUIRED, Hyperparameter, OptimizerEntry

GROUP = "regclip_bench.optimizers"
# torch.optim's arguments that choose an implementation, not the update: never hyperparameters.
IMPLEMENTATION = frozenset({"foreach", "fused", "capturable", "differentiable", "maximize"})
PROBE_SECONDS = 30.0   # the load-time check's build and step on a tiny tensor


class PluginError(ConfigError):
    """A plug-in that cannot be used: one line naming it and what is wrong."""


def from_reference(text: str, *, origin: str | None = None, **options: Any) -> OptimizerEntry:
    """`[NAME=]package.module:Name`: the object `Name` of an importable module (NAME: its optimizer name,
    by default `Name` in snake case)."""
    name, _, reference = text.rpartition("=") if "=" in text else ("", "", text)
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise PluginError(f"optimizer {text!r}: expected NAME=package.module:Class (or package.module:Class)")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:   # a plug-in's import can raise anything: say what, in one line
        raise PluginError(f"optimizer {text!r}: cannot import {module_name} ({type(exc).__name__}: {exc})") from None
    name = name or snake_case(attribute.rpartition(".")[2])
    obj = _attribute(module, attribute, text)
    return from_object(name, obj, origin=origin or reference,
                       source=_source(obj, module, reference), source_paths=(_package_folder(module),),
                       packages=_distributions(module_name),
                       plugin={"kind": "reference", "reference": f"{name}={reference}"}, **options)


def from_entry_point(name: str, *, origin: str | None = None, **options: Any) -> OptimizerEntry | None:
    """The installed entry point `name` of the group, loaded (None where there is none).  It may name
    an optimizer class or factory, or a whole `OptimizerEntry`."""
    found = [ep for ep in importlib.metadata.entry_points(group=GROUP) if ep.name == name]
    if not found:
        return None
    point = found[0]
    where = f"entry point {name!r} ({point.value})"
    try:
        obj = point.load()
    except Exception as exc:
        raise PluginError(f"optimizer {where}: cannot load it ({type(exc).__name__}: {exc})") from None
    module = sys.modules.get(point.module)
    packages = {point.dist.name: point.dist.version} if point.dist is not None else {}
    origin = origin or f"entry point {point.value}"
    plugin = {"kind": "entry_point", "reference": name}
    if isinstance(obj, OptimizerEntry):
        if obj.name != name:
            raise PluginError(f"optimizer {where}: its entry is named {obj.name!r}")
        sha = obj.source_sha256 or hashlib.sha256(_source(obj.build, module, point.value)).hexdigest()
        return dataclasses.replace(obj, origin=origin, source_sha256=sha, packages={**packages, **obj.packages},
                                   source_paths=obj.source_paths or ((_package_folder(module),) if module else ()),
                                   plugin={**plugin, "name": name, "origin": origin, "sha256": sha, "options": {}})
    return from_object(name, obj, origin=origin, source=_source(obj, module, point.value),
                       source_paths=(_package_folder(module),) if module is not None else (), packages=packages,
                       plugin=plugin, **options)


def entry_point_names() -> list[str]:
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=GROUP)})


def from_source(name: str, path: Path, attribute: str, *, origin: str | None = None, source: bytes | None = None,
                **options: Any) -> OptimizerEntry:
    """`attribute` of the Python file `path` (a submission's optimizer.py), executed as a module."""
    if source is None:
        try:
            source = path.read_bytes()
        except OSError as exc:
            raise PluginError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    module = _exec_module(name, source, str(path))
    return from_object(name, _attribute(module, attribute, f"{path}:{attribute}"), origin=origin or str(path),
                       source=source, source_paths=(str(path),),
                       plugin={"kind": "source", "source_text": source.decode("utf-8", errors="replace"),
                               "source_path": str(path), "attribute": attribute}, **options)


def from_object(name: str, obj: Any, *, origin: str, source: bytes, source_paths: tuple[str, ...] = (),
                packages: Mapping[str, str] | None = None, plugin: Mapping[str, Any] | None = None,
                display: str | None = None, mode_switch: bool | None = None,
                fixed: Mapping[str, Any] | None = None) -> OptimizerEntry:
    """An entry for an Optimizer subclass or a factory returning one.  `fixed`: values its
    hyperparameters take instead of their defaults (a submission's `hyperparameters:`); `mode_switch`:
    None to tell from the class (train() and eval() methods, as Schedule-Free optimizers have)."""
    where = f"optimizer {name!r} ({origin})"
    try:
        check_name("optimizer", name)
    except ConfigError as exc:
        raise PluginError(f"{origin}: {exc}") from None
    is_class = inspect.isclass(obj)
    if is_class and not issubclass(obj, Optimizer):
        raise PluginError(f"{where}: {obj.__name__} is a class but not a torch.optim.Optimizer")
    if not is_class and not callable(obj):
        raise PluginError(f"{where}: a {type(obj).__name__} is neither an optimizer class nor a factory")
    hyperparameters, tuples = signature_hyperparameters(obj, where)
    if fixed:
        unknown_names = sorted(set(fixed) - {h.name for h in hyperparameters})
        if unknown_names:
            raise PluginError(f"{where} does not take {', '.join(unknown_names)}; it accepts: "
                              f"{', '.join(h.name for h in hyperparameters)}")
        try:
            hyperparameters = tuple(Hyperparameter(h.name, h.check(fixed[h.name]), h.kind, h.range)
                                    if h.name in fixed else h for h in hyperparameters)
        except ValueError as exc:
            raise PluginError(f"{where}: {exc}") from None
    if mode_switch is None:
        mode_switch = is_class and callable(getattr(obj, "train", None)) and callable(getattr(obj, "eval", None))
    sha = hashlib.sha256(source).hexdigest()
    entry = OptimizerEntry(
        name, _builder(obj, tuples, name), hyperparameters, display or name, origin=origin, source_sha256=sha,
        mode_switch=mode_switch, source_paths=tuple(p for p in source_paths if p), packages=dict(packages or {}),
        plugin={**(plugin or {}), "name": name, "origin": origin, "sha256": sha,
                "options": {"display": display, "mode_switch": mode_switch, "fixed": dict(fixed or {})}})
    if is_class:
        _refuse_required_closure(entry, obj)
    # Built once on a tiny parameter (a broken factory fails here, not in a trial) and stepped, to count its
    # state for the memory estimate; where it needs values nobody gave yet, count it as Adam's (2 copies).
    copies = state_copies(entry, entry.resolve({})) if not entry.required else 2
    return dataclasses.replace(entry, state_copies=copies)


def state_copies(entry: OptimizerEntry, hparams: Mapping[str, Any]) -> int:
    """The optimizer's state after one step, in copies of the weights (tensors shaped as a parameter);
    a PluginError where building it or that step fails or takes more than PROBE_SECONDS."""
    where = f"optimizer {entry.name!r} ({entry.origin})"
    try:
        with Deadline(PROBE_SECONDS):
            built = try_build(entry, hparams)
            param = built.param_groups[0]["params"][0]
            param.grad = torch.ones_like(param)
            if entry.mode_switch:
                built.train()
            built.step()
    except TrialTimeout:
        raise PluginError(f"{where}: one step on a 2-element tensor did not finish within {PROBE_SECONDS:g} s") from None
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(f"{where}: a first step raised {type(exc).__name__}: {exc}") from None
    return sum(1 for state in built.state.values() if isinstance(state, Mapping) for value in state.values()
               if isinstance(value, torch.Tensor) and value.shape == param.shape)


def try_build(entry: OptimizerEntry, hparams: Mapping[str, Any]) -> Optimizer:
    """Build the optimizer over one small tensor: a PluginError unless that gives a torch optimizer
    with a learning rate in its parameter groups (the protocol tunes and schedules η)."""
    where = f"optimizer {entry.name!r} ({entry.origin})"
    try:
        built = entry.build([torch.nn.Parameter(torch.zeros(2))], **hparams)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise PluginError(f"{where}: building it with {_describe(hparams)} raised {type(exc).__name__}"
                          + (f": {first}" if first else "")) from None
    if not isinstance(built, Optimizer):
        raise PluginError(f"{where}: returned a {type(built).__name__}, not a torch.optim.Optimizer")
    if "lr" not in built.param_groups[0]:
        raise PluginError(f"{where}: its parameter groups have no lr (the protocol tunes and schedules η)")
    _refuse_required_closure(entry, type(built))
    return built


def load(plugin: Mapping[str, Any]) -> OptimizerEntry:
    """The entry that `OptimizerEntry.plugin` describes, rebuilt in this process (a Ray worker); a
    PluginError where the code found here is not the code it was made from."""
    name, origin, kind = plugin["name"], plugin["origin"], plugin["kind"]
    options = dict(plugin.get("options") or {})
    if kind == "source":
        entry = from_source(name, Path(plugin["source_path"]), plugin["attribute"], origin=origin,
                            source=plugin["source_text"].encode(), **options)
    elif kind == "entry_point":
        entry = from_entry_point(plugin["reference"], origin=origin, **options)
        if entry is None:
            raise PluginError(f"optimizer {name!r}: its entry point is not installed here")
    else:
        entry = from_reference(plugin["reference"], origin=origin, **options)
    if entry.source_sha256 != plugin["sha256"]:
        raise PluginError(f"optimizer {name!r} ({origin}): its code here differs from the sweep's "
                          f"(SHA-256 {entry.source_sha256[:12]}… against {plugin['sha256'][:12]}…)")
    return entry


def raised_by(entry: OptimizerEntry, exc: BaseException) -> bool:
    """Whether the exception was raised in the plug-in's own code (a result), not the suite's (a bug)."""
    if entry.builtin or not entry.source_paths:
        return False
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if any(filename == p or filename.startswith(p.rstrip("/") + "/") for p in entry.source_paths):
            return True
        tb = tb.tb_next
    return False


def signature_hyperparameters(obj: Callable, where: str) -> tuple[tuple[Hyperparameter, ...], dict[str, int]]:
    """The scalar hyperparameters of a class's constructor or a factory, and the tuple arguments
    they were split from (name → length)."""
    try:
        parameters = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        raise PluginError(f"{where}: its signature cannot be read") from None
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not positional:
        raise PluginError(f"{where}: it takes no parameters argument (expected f(params, lr=…, …))")
    found: list[Hyperparameter] = []
    tuples: dict[str, int] = {}
    for p in parameters[parameters.index(positional[0]) + 1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY) or p.name in IMPLEMENTATION:
            continue
        default = p.default
        if default is inspect.Parameter.empty:
            found.append(Hyperparameter.of(p.name, REQUIRED, float))
        elif isinstance(default, (bool, int, float)):
            found.append(Hyperparameter.of(p.name, default))
        elif (isinstance(default, tuple) and default and p.name.endswith("s")
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in default)):
            tuples[p.name] = len(default)
            found += [Hyperparameter.of(f"{p.name[:-1]}{i + 1}", float(v)) for i, v in enumerate(default)]
        # anything else (None, strings, tensors) is left to the class's own default
    names = [h.name for h in found]
    if len(set(names)) != len(names):
        raise PluginError(f"{where}: its scalar hyperparameters repeat a name ({', '.join(names)})")
    return tuple(found), tuples


def snake_case(text: str) -> str:
    out = "".join(f"_{c.lower()}" if c.isupper() else c for c in text).lstrip("_")
    return out.replace("__", "_")


def _builder(obj: Callable, tuples: dict[str, int], name: str) -> Callable[..., Optimizer]:
    def build(params, **hparams: Any) -> Optimizer:
        arguments = dict(hparams)
        for key, length in tuples.items():
            parts = [f"{key[:-1]}{i + 1}" for i in range(length)]
            if all(p in arguments for p in parts):
                arguments[key] = tuple(arguments.pop(p) for p in parts)
        return obj(params, **arguments)
    build.__name__ = f"build_{name}"
    return build


def _refuse_required_closure(entry: OptimizerEntry, cls: type) -> None:
    """Refuse an optimizer whose step() needs a closure: it may evaluate the loss several times a step,
    which a budget counted in steps cannot compare with the others."""
    try:
        closure = inspect.signature(cls.step).parameters.get("closure")
    except (TypeError, ValueError):
        return
    if closure is not None and closure.default is inspect.Parameter.empty:
        raise PluginError(f"optimizer {entry.name!r} ({entry.origin}): its step() requires a closure (it may "
                          "evaluate the loss several times per step, which the protocol's step budget cannot "
                          "compare); not supported — give an optimizer whose closure is optional")


def _attribute(module: types.ModuleType, attribute: str, where: str) -> Any:
    obj: Any = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise PluginError(f"optimizer {where}: {getattr(module, '__name__', module)} has no {attribute}")
        obj = getattr(obj, part)
    return obj


def _exec_module(name: str, source: bytes, filename: str) -> types.ModuleType:
    """A submission's file run as the module `regclip_bench_submission_<name>` (its frames carry
    `filename`, so that an error raised there is known to be the submission's)."""
    module = types.ModuleType(f"regclip_bench_submission_{name}")
    module.__file__ = filename
    sys.modules[module.__name__] = module
    try:
        exec(compile(source, filename, "exec"), module.__dict__)
    except Exception as exc:
        del sys.modules[module.__name__]
        line = exc.lineno if isinstance(exc, SyntaxError) else next(
            (tb.tb_lineno for tb in _frames(exc.__traceback__) if tb.tb_frame.f_code.co_filename == filename), None)
        raise PluginError(f"{filename}{f' line {line}' if line else ''}: importing it raised {type(exc).__name__}: "
                          f"{exc}") from None
    return module


def _frames(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _source(obj: Any, module: types.ModuleType | None, fallback: str) -> bytes:
    """The bytes of the file that defines `obj` (what its SHA-256 is of), else its module's; the
    reference itself where neither has one."""
    for thing in (obj, module):
        try:
            path = inspect.getsourcefile(thing) if thing is not None else None
        except TypeError:
            path = None
        if path:
            return Path(path).read_bytes()
    return fallback.encode()


def _package_folder(module: types.ModuleType) -> str:
    """The folder of a package's code (its top-level package), or the module's file."""
    top = sys.modules.get(module.__name__.partition(".")[0], module)
    path = getattr(top, "__file__", None) or ""
    return str(Path(path).parent) if path.endswith("__init__.py") else path


def _distributions(module_name: str) -> dict[str, str]:
    """The installed distributions that provide a module's top-level package, with their versions."""
    top = module_name.partition(".")[0]
    out = {}
    for dist in importlib.metadata.packages_distributions().get(top, []):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _describe(hparams: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in hparams.items()) or "its defaults"
