from .ensemble import Ensemble, EnsembleMember
from .entity import SmartSimEntity
from .files import EntityFiles, TaggedFilesHierarchy
from .model import Model

__all__ = ["Ensemble", "EnsembleMember", "EntityFiles", "Model", "SmartSimEntity", "TaggedFilesHierarchy"]
