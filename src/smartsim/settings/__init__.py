"""Run and batch settings with SmartSim 0.8's classes and names: ``RunSettings`` and its
run-command subclasses (``srun``, ``mpirun``, ``aprun``, ``jsrun``, ...) and the batch
settings of each scheduler (``sbatch``, ``qsub``, ``bsub``, Cobalt)."""
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
