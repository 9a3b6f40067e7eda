"""TensorFlow helpers: ``serialize_model`` (to memory) and ``freeze_model`` (to a file) turn
a Keras model into the frozen graph that the database's TF backend runs, with the names of
its input and output nodes (``add_ml_model(..., inputs=..., outputs=...)``).

Needs TensorFlow (``pip install smartsim[tf]`` installs ``tensorflow-cpu``).
"""
try:
    import tensorflow  # noqa: F401  pylint: disable=unused-import
except ImportError:  # pragma: no cover - depends on the installation
    raise ModuleNotFoundError(
        "TensorFlow is not installed. Please install it to use smartsim.ml.tf "
        "(pip install 'smartsim[tf]' installs tensorflow-cpu)") from None

from .utils import freeze_model, serialize_model  # noqa: E402

__all__ = ["freeze_model", "serialize_model"]
