"""Freeze a Keras model into a TensorFlow graph (variables become constants), in memory
or to a ``.pb`` file, for the database's TF backend."""
from __future__ import annotations

import os
import typing as t
from pathlib import Path

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import (  # pylint: disable=no-name-in-module
    convert_variables_to_constants_v2,
)

__all__ = ["freeze_model", "serialize_model"]


def _frozen(model: t.Any) -> t.Tuple[t.Any, t.List[str], t.List[str]]:
    """The frozen concrete function of ``model`` and its input / output node names."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError(
            f"cannot freeze {type(model).__name__}: it has no inputs yet (build it first, e.g. "
            "a keras.Input layer or by calling it on data)")
    specs = [tf.TensorSpec(x.shape, x.dtype) for x in inputs]
    spec: t.Any = specs[0] if len(specs) == 1 else specs
    concrete = tf.function(model).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    input_names = [x.name.split(":")[0] for x in frozen.inputs if x.dtype != tf.resource]
    output_names = [x.name.split(":")[0] for x in frozen.outputs]
    return frozen, input_names, output_names


def freeze_model(model: t.Any, output_dir: str, file_name: str) -> t.Tuple[str, t.List[str], t.List[str]]:
    """Freeze a Keras (or ``tf.Module`` with ``inputs``) model to ``output_dir/file_name``
    (``.pb`` appended when missing).

    :return: the absolute path of the file, the model's input node names, its output node
        names (give them to ``add_ml_model(..., model_path=path, inputs=..., outputs=...)``
        or to ``Client.set_model_from_file``)
    """
    if not file_name.endswith(".pb"):
        file_name += ".pb"
    frozen, input_names, output_names = _frozen(model)
    os.makedirs(output_dir, exist_ok=True)
    tf.io.write_graph(graph_or_graph_def=frozen.graph, logdir=str(output_dir), name=file_name,
                      as_text=False)
    return str(Path(output_dir, file_name).resolve()), input_names, output_names


def serialize_model(model: t.Any) -> t.Tuple[bytes, t.List[str], t.List[str]]:
    """Freeze a Keras model in memory.

    :return: the serialized graph (bytes), the model's input node names, its output node
        names (give them to ``add_ml_model(..., model=bytes, inputs=..., outputs=...)`` or
        to ``Client.set_model``)
    """
    frozen, input_names, output_names = _frozen(model)
    return frozen.graph.as_graph_def().SerializeToString(deterministic=True), input_names, output_names
