"""Errors the user can fix: the CLI prints them on one line and exits with code 2."""

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


def unknown(what: str, value: object, options) -> str:
    """The one spelling of "unknown X; choose from: …"."""
    return f"unknown {what} {value!r}; choose from: {', '.join(map(str, options))}"
