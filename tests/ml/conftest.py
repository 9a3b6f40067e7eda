"""Fixtures for the ML-object tests: the test base's databases (a standalone server and a
3-shard cluster, each with executors), a driver-side client, and small models made here
(TorchScript, ONNX, Keras/TF, TFLite: nothing is downloaded)."""
from __future__ import annotations

import io
import os

import numpy as np
import pytest

_CLIENT_VARS = ("SSDB", "SR_DB_TYPE", "SSKEYIN", "SSKEYOUT")


@pytest.fixture
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith(_CLIENT_VARS):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SR_LOG_LEVEL", "quiet")
    return monkeypatch


@pytest.fixture(params=["standalone", "cluster"])
def db(request, clean_env, databases):
    """The database (flushed), with SSDB/SR_DB_TYPE set for clients made from the environment."""
    database = databases.get(request.param)
    database.flush()
    for key, value in database.env().items():
        clean_env.setenv(key, value)
    return database


@pytest.fixture
def standalone_db(clean_env, databases):
    database = databases.get("standalone")
    database.flush()
    for key, value in database.env().items():
        clean_env.setenv(key, value)
    return database


@pytest.fixture
def client(db):
    """What the controller stores with: a client of the whole database, no prefixes."""
    from smartsim.client import Client

    c = Client(None, logger_name="driver")
    yield c
    c.close()


def member_client(monkeypatch, name, model_prefix=False):
    """The client an ensemble member's application makes: SSKEYOUT = SSKEYIN = its name."""
    from smartsim.client import Client

    monkeypatch.setenv("SSKEYOUT", name)
    monkeypatch.setenv("SSKEYIN", name)
    c = Client(None, logger_name=name)
    monkeypatch.delenv("SSKEYOUT")
    monkeypatch.delenv("SSKEYIN")
    if model_prefix:
        c.use_model_ensemble_prefix(True)
    return c


# ----------------------------------------------------------------------------- models
def torch_module_bytes(factor=2.0):
    torch = pytest.importorskip("torch")

    class Scale(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.factor = factor

        def forward(self, x):
            return x * self.factor

    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(Scale()), buf)
    return buf.getvalue()


def onnx_bytes(factor=3.0):
    """Y = X * factor (float32, any batch), made with onnx.helper."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    const = helper.make_tensor("k", TensorProto.FLOAT, [1], [factor])
    node = helper.make_node("Mul", ["X", "k"], ["Y"])
    graph = helper.make_graph([node], "scale", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3])], [const])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def need_tensorflow():
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        pytest.skip("tensorflow is not installed (pip install 'smartsim[tf]', or scripts/install.sh test)")


def keras_cnn():
    """The Ensemble chapter's CNN: 28x28x1 images -> 10 softmax classes."""
    need_tensorflow()
    import keras

    keras.utils.set_random_seed(7)
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def tflite_bytes():
    need_tensorflow()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    return model, tf.lite.TFLiteConverter.from_keras_model(model).convert()


def images(n=2):
    return np.random.default_rng(0).random((n, 28, 28, 1), dtype=np.float32)
