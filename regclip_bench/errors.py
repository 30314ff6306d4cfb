"""Errors the user can fix: the CLI prints them on one line and exits with code 2."""


class ConfigError(ValueError):
    """Bad input: a task file, a --set value, a command-line option, missing data files."""
