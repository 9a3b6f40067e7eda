"""``smartsim.client.srobject``: SmartRedis 0.6.1's ``smartredis.srobject`` module."""
from .logger import SRObject, SRObjectCore

__all__ = ["SRObject", "SRObjectCore"]
