"""Errors the user can fix: the CLI prints them on one line and exits with code 2."""

import os
import re


class ConfigError(ValueError):
    """Bad input: a task file, a --set value, a command-line option, missing data files."""


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_name(what: str, value: object) -> str:
    """A name that becomes part of a path (sweep, sweep id, trial id, task, optimizer): letters,
    digits, '.', '_' and '-', at most 128, starting with a letter or digit, never '..'."""
    if not isinstance(value, str) or not _NAME.fullmatch(value) or ".." in value:
        raise ConfigError(f"{what} {value!r}: not a valid name (1 to 128 letters, digits, '.', '_' or '-', "
                          "starting with a letter or digit)")
    return value


# Linux's limits (and most filesystems'): a name of at most 255 bytes, a path of fewer than 4,096.
NAME_MAX, PATH_MAX = 255, 4096


def check_path(what: str, path: str) -> str:
    """A local path the filesystem can hold (each name ≤ 255 bytes, the whole < 4,096), else a one-line
    error naming `what`."""
    encoded = os.fsencode(os.path.expanduser(path))
    if len(encoded) >= PATH_MAX or any(len(part) > NAME_MAX for part in encoded.split(b"/")):
        shown = path if len(path) <= 60 else f"{path[:40]}…{path[-12:]}"
        raise ConfigError(f"{what} {shown!r}: longer than the filesystem allows ({NAME_MAX} bytes a name, "
                          f"{PATH_MAX - 1} a path)")
    return path


def unknown(what: str, value: object, options) -> str:
    """The one spelling of "unknown X; choose from: …"."""
    return f"unknown {what} {value!r}; choose from: {', '.join(map(str, options))}"
