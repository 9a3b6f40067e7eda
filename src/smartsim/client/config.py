"""``ConfigOptions``: client settings from the environment, with per-database suffixes."""
import os
import typing as t

from .errors import RedisKeyError, RedisRuntimeError

__all__ = ["ConfigOptions"]


def _typecheck(arg: t.Any, name: str, _type: t.Any) -> None:
    if not isinstance(arg, _type) or (_type is int and isinstance(arg, bool)):
        raise TypeError(f"Argument {name} is of type {type(arg)}, not {_type}")


class ConfigOptions:
    """Configuration read from environment variables.

    ``create_from_environment("x")`` reads ``NAME_x`` for every option (``SSDB_x``,
    ``SR_DB_TYPE_x``, ``SSKEYIN_x`` ...); an empty suffix reads the plain names.  Overrides
    set with ``override_*_option`` take precedence over the environment."""

    def __init__(self) -> None:
        self._suffix = ""
        self._overrides: t.Dict[str, t.Union[int, str]] = {}

    @classmethod
    def create_from_environment(cls, db_suffix: str) -> "ConfigOptions":
        _typecheck(db_suffix, "db_suffix", str)
        opts = cls()
        opts._suffix = db_suffix
        return opts

    @property
    def db_suffix(self) -> str:
        return self._suffix

    def _name(self, option_name: str) -> str:
        return f"{option_name}_{self._suffix}" if self._suffix else option_name

    def _raw(self, option_name: str) -> t.Optional[t.Union[int, str]]:
        if option_name in self._overrides:
            return self._overrides[option_name]
        return os.environ.get(self._name(option_name))

    def get_integer_option(self, option_name: str) -> int:
        _typecheck(option_name, "option_name", str)
        value = self._raw(option_name)
        if value is None or value == "":
            raise RedisKeyError(f"Configuration option {self._name(option_name)} is not set")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise RedisRuntimeError(
                f"Configuration option {self._name(option_name)}={value!r} is not an integer"
            ) from None

    def get_string_option(self, option_name: str) -> str:
        _typecheck(option_name, "option_name", str)
        value = self._raw(option_name)
        if value is None:
            raise RedisKeyError(f"Configuration option {self._name(option_name)} is not set")
        return str(value)

    def is_configured(self, option_name: str) -> bool:
        _typecheck(option_name, "option_name", str)
        return self._raw(option_name) is not None

    def override_integer_option(self, option_name: str, value: int) -> None:
        _typecheck(option_name, "option_name", str)
        _typecheck(value, "value", int)
        self._overrides[option_name] = value

    def override_string_option(self, option_name: str, value: str) -> None:
        _typecheck(option_name, "option_name", str)
        _typecheck(value, "value", str)
        self._overrides[option_name] = value

    # ------------------------------------------------------------------ internal helpers
    def _resolve_string(self, option_name: str, default: str) -> str:
        value = self._raw(option_name)
        return default if value is None else str(value)

    def _resolve_int(self, option_name: str, default: int) -> int:
        value = self._raw(option_name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise RedisRuntimeError(
                f"Configuration option {self._name(option_name)}={value!r} is not an integer"
            ) from None

    def __repr__(self) -> str:
        return f"ConfigOptions(db_suffix={self._suffix!r})"
