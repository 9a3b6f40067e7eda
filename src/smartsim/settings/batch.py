"""The batch settings of every workload manager, importable from one place (each class
lives in its scheduler's module, named as in SmartSim 0.8)."""
from __future__ import annotations

from .cobaltSettings import CobaltBatchSettings
from .lsfSettings import BsubBatchSettings
from .pbsSettings import QsubBatchSettings
from .sgeSettings import SgeQsubBatchSettings
from .slurmSettings import SbatchSettings

__all__ = ["SbatchSettings", "QsubBatchSettings", "BsubBatchSettings", "SgeQsubBatchSettings",
           "CobaltBatchSettings"]
