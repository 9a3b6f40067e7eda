from .dbobject import DBModel, DBObject, DBScript
from .ensemble import Ensemble, EnsembleMember
from .entity import SmartSimEntity
from .files import EntityFiles, TaggedFilesHierarchy
from .model import Model

__all__ = ["DBModel", "DBObject", "DBScript", "Ensemble", "EnsembleMember", "EntityFiles", "Model", "SmartSimEntity", "TaggedFilesHierarchy"]
