"""Sphinx configuration of the API reference (built by scripts/build_docs.sh)."""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "src")))

project = "smartsim-fast"
author = "smartsim-fast contributors"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
html_theme = "alabaster"
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# optional ML frameworks are not needed to document the modules that wrap them
autodoc_mock_imports = ["tensorflow"]
# The package's annotations name classes through several public paths (smartsim.entity.Model
# and smartsim.entity.model.Model); one target each is enough for the reference.
suppress_warnings = ["ref.python"]
