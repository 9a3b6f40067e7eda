from .base import BatchSettings, RunSettings, SettingsBase
from .batch import BsubBatchSettings, QsubBatchSettings, SbatchSettings

__all__ = ["BatchSettings", "RunSettings", "SettingsBase", "SbatchSettings", "QsubBatchSettings",
           "BsubBatchSettings"]
