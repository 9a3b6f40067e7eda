"""Model builders shared by the executor tests."""
from __future__ import annotations

import io


def torch_model_bytes(torch, kind: str = "affine") -> bytes:
    """A TorchScript model saved to bytes (``torch.jit.save``)."""
    if kind == "affine":
        class M(torch.nn.Module):
            def forward(self, x):
                return x * 2.0 + 1.0
    elif kind == "two_out":
        class M(torch.nn.Module):  # type: ignore[no-redef]
            def forward(self, x, y):
                return x + y, x * y
    else:
        raise ValueError(kind)
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(M()), buf)
    return buf.getvalue()


def onnx_add_mul(onnx) -> bytes:
    """An ONNX model: inputs a, b (float, [N, 3]) -> outputs a+b, a*b."""
    from onnx import TensorProto, helper

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3])
    s = helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["N", 3])
    p = helper.make_tensor_value_info("prod", TensorProto.FLOAT, ["N", 3])
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Mul", ["a", "b"], ["prod"])],
        "add_mul", [a, b], [s, p])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()
