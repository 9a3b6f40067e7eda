"""Build step of smartredis-alias: the package goes to ``<site-packages>/smartredis_alias/
smartredis/`` (not ``<site-packages>/smartredis/``, where a real SmartRedis lives, so neither
overwrites the other), and ``smartredis_alias.pth`` appends that directory to the END of
``sys.path`` (a path line: no code runs at interpreter start-up)."""
import os

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildAlias(build_py):
    def run(self) -> None:
        super().run()
        target = os.path.join(self.build_lib, "smartredis_alias", "smartredis")
        self.mkpath(target)
        self.copy_file(os.path.join(HERE, "lib", "smartredis", "__init__.py"),
                       os.path.join(target, "__init__.py"))
        self.copy_file(os.path.join(HERE, "smartredis_alias.pth"),
                       os.path.join(self.build_lib, "smartredis_alias.pth"))


class AliasDistribution(Distribution):
    # no declared package (BuildAlias places the files), yet pure-Python content to build
    # and install
    def has_pure_modules(self) -> bool:
        return True


setup(distclass=AliasDistribution, cmdclass={"build_py": BuildAlias})
