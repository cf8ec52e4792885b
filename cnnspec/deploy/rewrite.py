"""Exact ONNX graph rewrites done at export (``onnx`` only, TensorFlow-free).

tf2onnx turns a BatchNormalization placed *after* an activation (``Conv -> relu -> BN``, as in
seed 002's VGG blocks) into a separate per-channel ``Mul`` and ``Add``. onnxruntime fuses such
pairs only into a *preceding* Conv, so here they stay elementwise ops that force its NCHWc
convolution layout to reorder the tensor before and after them. The rewrites:

* ``affine_to_depthwise``: ``Mul(x, s)`` -> ``Add(., b)`` (or either alone) with per-channel
  constants on a 4-D NCHW tensor becomes one depthwise 1x1 ``Conv`` (weights ``s``, bias ``b``,
  ``group = C``), which onnxruntime keeps in its NCHWc layout and OpenVINO fuses further;
* ``affine_into_matmul``: the same pair on a 2-D tensor whose only consumer is a ``MatMul`` /
  ``Gemm`` with constant weights (``Dense -> relu -> BN -> Dense``) is folded into those weights
  and the bias: ``(x*s + b) W + c = x (diag(s) W) + (b W + c)``.

Both are exact in real arithmetic (the float result differs by rounding only: ~1e-7); the
export's parity check (max |keras - onnx| <= 1e-5, 100% top-1 agreement) covers every
rewritten file. :func:`rewrite_graph` returns how many of each it did.
"""
from __future__ import annotations

import numpy as np

_ELEM = ("Mul", "Add")


class _Graph:
    """Helpers over a GraphProto: constants, consumers, ranks."""

    def __init__(self, model) -> None:
        import onnx
        from onnx import numpy_helper

        self.model = model
        self.g = model.graph
        self.np = numpy_helper
        self.inits = {i.name: i for i in self.g.initializer}
        self.const_nodes = {n.output[0]: n for n in self.g.node if n.op_type == "Constant"}
        try:
            inferred = onnx.shape_inference.infer_shapes(model)
        except Exception:  # noqa: BLE001 - no ranks known: rewrites that need them are skipped
            inferred = model
        self.ranks = {}
        for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
            t = vi.type.tensor_type
            if t.HasField("shape"):
                self.ranks[vi.name] = len(t.shape.dim)

    def const(self, name: str):
        if name in self.inits:
            return self.np.to_array(self.inits[name])
        node = self.const_nodes.get(name)
        if node is not None:
            for a in node.attribute:
                if a.name == "value":
                    return self.np.to_array(a.t)
        return None

    def consumers(self, name: str) -> list:
        return [n for n in self.g.node if name in n.input]

    def is_output(self, name: str) -> bool:
        return any(o.name == name for o in self.g.output)

    def affine(self, node):
        """(data input, constant) of a Mul/Add with exactly one constant float operand, else None."""
        if node.op_type not in _ELEM or len(node.input) != 2:
            return None
        for i in (0, 1):
            c = self.const(node.input[i])
            if c is not None and c.dtype == np.float32 and self.const(node.input[1 - i]) is None:
                return node.input[1 - i], c
        return None

    def add_init(self, arr: np.ndarray, name: str) -> str:
        base, k = name, 0
        while name in self.inits:
            k += 1
            name = f"{base}_{k}"
        t = self.np.from_array(np.ascontiguousarray(arr), name)
        self.g.initializer.append(t)
        self.inits[name] = t
        return name


def _chain(G: _Graph, node):
    """A Mul, an Add or Mul->Add chain starting at ``node``: (nodes, x, scale, bias) or None."""
    first = G.affine(node)
    if first is None:
        return None
    x, c = first
    nodes, scale, bias = [node], None, None
    if node.op_type == "Mul":
        scale = c
        nxt = G.consumers(node.output[0])
        if len(nxt) == 1 and nxt[0].op_type == "Add" and not G.is_output(node.output[0]):
            second = G.affine(nxt[0])
            if second is not None and second[0] == node.output[0]:
                nodes.append(nxt[0])
                bias = second[1]
    else:
        bias = c
    return nodes, x, scale, bias


def _per_channel(c, rank: int, axis: int, channels: int | None):
    """``c`` broadcast along ``axis`` only (as a flat vector of length C), else None."""
    if c is None:
        return None
    shape = list(c.shape)
    if len(shape) > rank:
        return None
    shape = [1] * (rank - len(shape)) + shape
    if any(d != 1 for i, d in enumerate(shape) if i != axis):
        return None
    flat = c.reshape(-1)
    if channels is not None and flat.size not in (1, channels):
        return None
    return flat


def _replace(G: _Graph, old_nodes: list, new_nodes: list) -> None:
    idx = min(list(G.g.node).index(n) for n in old_nodes)
    for n in old_nodes:
        G.g.node.remove(n)
    for k, n in enumerate(new_nodes):
        G.g.node.insert(idx + k, n)


def _channels_of(G: _Graph, x: str) -> int | None:
    """Channel count of an NCHW tensor produced by a Conv with constant weights, else None."""
    for n in G.g.node:
        if x in n.output and n.op_type == "Conv":
            w = G.const(n.input[1])
            return int(w.shape[0]) if w is not None else None
        if x in n.output and n.op_type in ("Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu",
                                           "HardSigmoid", "Softplus", "MaxPool", "AveragePool"):
            return _channels_of(G, n.input[0])
    return None


def _chains(G: _Graph):
    """Each per-channel Mul/Add chain still in the graph (``_chain``'s match), found node by node as
    earlier ones are replaced."""
    for node in list(G.g.node):
        found = _chain(G, node) if node in G.g.node else None
        if found is not None:
            yield found


def _to_depthwise(G: _Graph) -> int:
    from onnx import helper

    done = 0
    for nodes, x, scale, bias in _chains(G):
        channels = _channels_of(G, x)
        if G.ranks.get(x) != 4 or channels is None:
            continue
        s = _per_channel(scale, 4, 1, channels) if scale is not None else np.ones(1, np.float32)
        b = _per_channel(bias, 4, 1, channels) if bias is not None else np.zeros(1, np.float32)
        if s is None or b is None:
            continue
        w = np.broadcast_to(s, (channels,)).astype(np.float32).reshape(channels, 1, 1, 1)
        bb = np.broadcast_to(b, (channels,)).astype(np.float32)
        wn = G.add_init(w, nodes[0].name + "__dw_w")
        bn = G.add_init(bb, nodes[0].name + "__dw_b")
        conv = helper.make_node("Conv", [x, wn, bn], [nodes[-1].output[0]], name=nodes[0].name + "__dw",
                                group=channels, kernel_shape=[1, 1])
        _replace(G, nodes, [conv])
        done += 1
    return done


def _into_matmul(G: _Graph) -> int:
    from onnx import helper

    done = 0
    for nodes, x, scale, bias in _chains(G):
        out = nodes[-1].output[0]
        users = G.consumers(out)
        if G.ranks.get(x) != 2 or len(users) != 1 or G.is_output(out) or users[0].op_type not in ("MatMul", "Gemm"):
            continue
        mm = users[0]
        if mm.input[0] != out or (mm.op_type == "Gemm" and any(a.name in ("transA", "transB") and a.i
                                                               for a in mm.attribute)):
            continue
        w = G.const(mm.input[1])
        if w is None or w.ndim != 2:
            continue
        s = _per_channel(scale, 2, 1, w.shape[0]) if scale is not None else np.ones(1, np.float32)
        b = _per_channel(bias, 2, 1, w.shape[0]) if bias is not None else np.zeros(1, np.float32)
        if s is None or b is None:
            continue
        s = np.broadcast_to(s, (w.shape[0],)).astype(np.float64)
        b = np.broadcast_to(b, (w.shape[0],)).astype(np.float64)
        w2 = (w.astype(np.float64) * s[:, None]).astype(np.float32)
        c_old = G.const(mm.input[2]) if mm.op_type == "Gemm" and len(mm.input) > 2 else None
        if mm.op_type == "Gemm" and len(mm.input) > 2 and c_old is None:
            continue
        shift = b @ w.astype(np.float64)
        c_new = (shift + (c_old.astype(np.float64) if c_old is not None else 0.0)).astype(np.float32)
        wn = G.add_init(w2, mm.name + "__folded_w")
        cn = G.add_init(c_new.reshape(-1), mm.name + "__folded_b")
        gemm = helper.make_node("Gemm", [x, wn, cn], list(mm.output), name=mm.name + "__folded")
        _replace(G, nodes + [mm], [gemm])
        done += 1
    return done


def _prune(G: _Graph) -> None:
    used = {x for n in G.g.node for x in n.input}
    for init in [i for i in G.g.initializer if i.name not in used]:
        G.g.initializer.remove(init)


def rewrite_graph(model) -> dict:
    """Apply every rewrite in place to an ``onnx.ModelProto``; returns ``{name: count}``."""
    G = _Graph(model)
    counts = {"affine_to_depthwise": _to_depthwise(G)}
    G = _Graph(model)
    counts["affine_into_matmul"] = _into_matmul(G)
    _prune(G)
    return counts
