"""The base of everything an experiment launches (``SmartSimEntity``)."""
from __future__ import annotations

import typing as t

from .._core.utils.helpers import check_name

if t.TYPE_CHECKING:
    from ..settings.base import RunSettings


class SmartSimEntity:
    """Something an experiment can generate and launch: it has a name, a path and settings."""

    def __init__(self, name: str, path: str, run_settings: "RunSettings") -> None:
        self.name = check_name(name, f"{type(self).__name__} name")
        self.run_settings = run_settings
        self.path = path

    @property
    def type(self) -> str:
        """The entity's type name (its class name), as shown in summaries."""
        return type(self).__name__

    def set_path(self, path: str) -> None:
        """Set the entity's directory to ``path``; ``TypeError`` unless it is a str."""
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, got {path!r}")
        self.path = path

    def __repr__(self) -> str:
        return self.name
