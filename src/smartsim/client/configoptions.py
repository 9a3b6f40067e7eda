"""``smartsim.client.configoptions``: SmartRedis 0.6.1's ``smartredis.configoptions`` module."""
from .config import ConfigCore, ConfigOptions

__all__ = ["ConfigOptions", "ConfigCore"]
