"""What an experiment runs: ``Model`` (one application), ``Ensemble`` (many members from
parameters or replicas), the ML objects stored before they start (``DBModel``,
``DBScript``) and the files attached to them (``EntityFiles``)."""
from .dbobject import DBModel, DBObject, DBScript
from .ensemble import Ensemble, EnsembleMember
from .entity import SmartSimEntity
from .files import EntityFiles, TaggedFilesHierarchy
from .model import Model

__all__ = ["DBModel", "DBObject", "DBScript", "Ensemble", "EnsembleMember", "EntityFiles", "Model", "SmartSimEntity", "TaggedFilesHierarchy"]
