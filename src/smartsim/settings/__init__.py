from .base import BatchSettings, RunSettings, SettingsBase
from .batch import BsubBatchSettings, QsubBatchSettings
from .mpiSettings import LocalRunSettings, MpiexecSettings, MpirunSettings, OrterunSettings
from .slurmSettings import SbatchSettings, SrunSettings

__all__ = ["BatchSettings", "RunSettings", "SettingsBase", "SbatchSettings", "SrunSettings",
           "QsubBatchSettings", "BsubBatchSettings", "MpirunSettings", "MpiexecSettings",
           "OrterunSettings", "LocalRunSettings"]
