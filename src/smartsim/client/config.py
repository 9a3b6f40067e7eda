"""``ConfigOptions``: client settings from the environment, with per-database suffixes.

As in SmartRedis 0.6.1, a ``ConfigOptions`` must come from its factory
(``ConfigOptions.create_from_environment(suffix)``): one built directly has no source, and
its methods raise ``RedisRuntimeError``.  The options themselves live in a ``ConfigCore``
(0.6.1's ``PyConfigOptions``), which ``get_data`` returns and the client reads.
"""
import os
import typing as t

from .errors import RedisKeyError, RedisRuntimeError

__all__ = ["ConfigOptions", "ConfigCore"]

_INT32_MAX = 2 ** 31 - 1
_INT32_MIN = -(2 ** 31)


def _typecheck(arg: t.Any, name: str, _type: t.Any) -> None:
    if not isinstance(arg, _type):
        raise TypeError(f"Argument {name} is of type {type(arg)}, not {_type}")


def _parse_int(text: str, key: str) -> int:
    """0.6.1's rule (``get_config_integer``): digits with an optional leading '-', within a
    32-bit int; otherwise ``ValueError``."""
    body = text[1:] if text.startswith("-") else text
    if not body.isdigit() or not body.isascii():
        raise ValueError(f"The value of {key} must be a valid number.")
    value = int(text)
    if not _INT32_MIN <= value <= _INT32_MAX:
        raise ValueError(f"The value of {key} is too large to be stored as an integer value.")
    return value


class ConfigCore:
    """Options read from environment variables ``NAME`` (or ``NAME_<suffix>``), with
    per-instance overrides taking precedence."""

    __slots__ = ("_suffix", "_overrides")

    def __init__(self, db_suffix: str = "") -> None:
        self._suffix = db_suffix
        self._overrides: t.Dict[str, t.Union[int, str]] = {}

    @classmethod
    def create_from_environment(cls, db_suffix: str) -> "ConfigCore":
        """Options read from the environment with suffix ``db_suffix`` (``SSDB_<db_suffix>``
        and so on; ``""`` for no suffix).
        """
        return cls(db_suffix)

    @property
    def db_suffix(self) -> str:
        """The suffix appended to option names (``SSDB_<suffix>``); ``""`` for none."""
        return self._suffix

    def _name(self, option_name: str) -> str:
        if option_name == "":
            raise RedisKeyError("Invalid empty environment variable name detected")
        return f"{option_name}_{self._suffix}" if self._suffix else option_name

    def _raw(self, option_name: str) -> t.Optional[t.Union[int, str]]:
        if option_name in self._overrides:
            return self._overrides[option_name]
        return os.environ.get(self._name(option_name))

    def get_integer_option(self, option_name: str) -> int:
        """The integer value of ``option_name`` (an override, else the environment);
        ``RedisKeyError`` when it is not set, ``RedisRuntimeError`` when it is not an integer.
        """
        value = self._raw(option_name)
        if value is None:
            raise RedisKeyError(f"No value found for key {self._name(option_name)}")
        if isinstance(value, int):
            return value
        return _parse_int(value, self._name(option_name)) if value else -1

    def get_string_option(self, option_name: str) -> str:
        """The value of ``option_name`` (an override, else the environment); ``RedisKeyError``
        when it is not set.
        """
        value = self._raw(option_name)
        if value is None:
            raise RedisKeyError(f"No value found for key {self._name(option_name)}")
        return str(value)

    def is_configured(self, option_name: str) -> bool:
        """True when ``option_name`` is overridden or set in the environment."""
        return self._raw(option_name) is not None

    def override_integer_option(self, option_name: str, value: int) -> None:
        """Use ``value`` for ``option_name`` instead of the environment's."""
        self._overrides[option_name] = value

    def override_string_option(self, option_name: str, value: str) -> None:
        """Use ``value`` for ``option_name`` instead of the environment's."""
        self._overrides[option_name] = value

    # ------------------------------------------------------------------ for the client
    def _resolve_string(self, option_name: str, default: str) -> str:
        value = self._raw(option_name)
        return default if value is None or value == "" else str(value)

    def _resolve_int(self, option_name: str, default: int) -> int:
        value = self._raw(option_name)
        if value is None or value == "":
            return default
        if isinstance(value, int):
            return value
        return _parse_int(value, self._name(option_name))

    def __repr__(self) -> str:
        return f"ConfigCore(db_suffix={self._suffix!r})"


_NOT_MANAGED = ("Attempting to call managed method on {} object not created from a factory "
                "method")


class ConfigOptions:
    """Configuration read from environment variables.

    ``create_from_environment("x")`` reads ``NAME_x`` for every option (``SSDB_x``,
    ``SR_DB_TYPE_x``, ``SSKEYIN_x`` ...); an empty suffix reads the plain names.  Overrides
    set with ``override_*_option`` take precedence over the environment."""

    def __init__(self) -> None:
        self._config_opts: t.Optional[ConfigCore] = None
        self._managed = False

    def _check_managed(self) -> ConfigCore:
        if not self._managed or self._config_opts is None:
            raise RedisRuntimeError(_NOT_MANAGED.format(type(self).__name__))
        return self._config_opts

    @staticmethod
    def from_pybind(configoptions: ConfigCore) -> "ConfigOptions":
        """A ``ConfigOptions`` over ``configoptions`` (the name is 0.6.1's)."""
        _typecheck(configoptions, "configoptions", ConfigCore)
        opts = ConfigOptions()
        opts._managed = True
        opts.set_configoptions(configoptions)
        return opts

    def get_data(self) -> ConfigCore:
        """The options object the client reads."""
        return self._check_managed()

    def set_configoptions(self, configoptions: ConfigCore) -> None:
        """Make this object manage ``configoptions`` (SmartRedis's binding-level setter)."""
        _typecheck(configoptions, "configoptions", ConfigCore)
        self._config_opts = configoptions

    @classmethod
    def create_from_environment(cls, db_suffix: str) -> "ConfigOptions":
        """Options from environment variables, ``NAME_<db_suffix>`` when the suffix is
        non-empty."""
        _typecheck(db_suffix, "db_suffix", str)
        opts = cls()
        opts._managed = True
        opts.set_configoptions(ConfigCore.create_from_environment(db_suffix))
        return opts

    @property
    def db_suffix(self) -> str:
        """The suffix appended to option names (``SSDB_<suffix>``); ``""`` for none."""
        return self._check_managed().db_suffix

    def get_integer_option(self, option_name: str) -> int:
        """The integer value of ``option_name`` (an override, else the environment variable);
        ``RedisKeyError`` when it is not set; ``TypeError`` unless ``option_name`` is a str.
        """
        core = self._check_managed()
        _typecheck(option_name, "option_name", str)
        return core.get_integer_option(option_name)

    def get_string_option(self, option_name: str) -> str:
        """The value of ``option_name`` (an override, else the environment variable);
        ``RedisKeyError`` when it is not set; ``TypeError`` unless ``option_name`` is a str.
        """
        core = self._check_managed()
        _typecheck(option_name, "option_name", str)
        return core.get_string_option(option_name)

    def is_configured(self, option_name: str) -> bool:
        """True when ``option_name`` is overridden or set in the environment."""
        core = self._check_managed()
        _typecheck(option_name, "option_name", str)
        return core.is_configured(option_name)

    def override_integer_option(self, option_name: str, value: int) -> None:
        """Use the int ``value`` for ``option_name`` instead of the environment's (``TypeError``
        for other types).
        """
        core = self._check_managed()
        _typecheck(option_name, "option_name", str)
        _typecheck(value, "value", int)
        core.override_integer_option(option_name, value)

    def override_string_option(self, option_name: str, value: str) -> None:
        """Use the str ``value`` for ``option_name`` instead of the environment's (``TypeError``
        for other types).
        """
        core = self._check_managed()
        _typecheck(option_name, "option_name", str)
        _typecheck(value, "value", str)
        core.override_string_option(option_name, value)

    def __repr__(self) -> str:
        if self._config_opts is None:
            return "ConfigOptions(<not created from a factory method>)"
        return f"ConfigOptions(db_suffix={self._config_opts.db_suffix!r})"
