from .base import BatchSettings, RunSettings, SettingsBase
from .batch import BsubBatchSettings, QsubBatchSettings, SbatchSettings
from .mpiSettings import LocalRunSettings, MpiexecSettings, MpirunSettings, OrterunSettings

__all__ = ["BatchSettings", "RunSettings", "SettingsBase", "SbatchSettings", "QsubBatchSettings",
           "BsubBatchSettings", "MpirunSettings", "MpiexecSettings", "OrterunSettings",
           "LocalRunSettings"]
