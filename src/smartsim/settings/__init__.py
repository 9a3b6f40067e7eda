from .alpsSettings import AprunSettings
from .base import BatchSettings, RunSettings, SettingsBase
from .cobaltSettings import CobaltBatchSettings
from .lsfSettings import BsubBatchSettings, JsrunSettings
from .mpiSettings import LocalRunSettings, MpiexecSettings, MpirunSettings, OrterunSettings
from .palsSettings import PalsMpiexecSettings
from .pbsSettings import QsubBatchSettings
from .sgeSettings import SgeQsubBatchSettings
from .slurmSettings import SbatchSettings, SrunSettings

__all__ = ["AprunSettings", "BsubBatchSettings", "JsrunSettings", "MpirunSettings",
           "MpiexecSettings", "OrterunSettings", "QsubBatchSettings", "RunSettings",
           "SettingsBase", "SbatchSettings", "SgeQsubBatchSettings", "SrunSettings",
           "PalsMpiexecSettings", "BatchSettings", "CobaltBatchSettings", "LocalRunSettings"]
