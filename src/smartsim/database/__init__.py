"""Databases of an experiment: ``Orchestrator`` (standalone or sharded Redis with our
RedisAI-compatible module); colocated databases are set up with ``Model.colocate_db_*``."""
from .orchestrator import DBNode, Orchestrator

__all__ = ["DBNode", "Orchestrator"]
