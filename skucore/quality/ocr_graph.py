"""Faster PP-OCRv4 graphs for onnxruntime on the CPU: the same arithmetic in fewer operators.

The models shipped in `rapidocr-onnxruntime` were exported from Paddle op by op, so each hard-swish is four
element-wise operators (x + 3, clip to 0..6, times x, / 6) and each "learnable affine" after a convolution is two
more (times a scalar, plus a scalar). onnxruntime does not fuse either pattern (its fusions look for HardSigmoid
and for per-channel initializers), and on one thread those element-wise passes over the feature maps took about
40 % of the recogniser's time (profiled at 48 x 380: 19 of 50 ms). `fuse_for_cpu` rewrites them:

- Add(x, 3) -> Clip(0, 6) -> Mul(x, .) -> Div(6)  =>  HardSigmoid(x; 1/6, 1/2) -> Mul(x, .)  (exactly x*relu6(x+3)/6)
- Conv(x; W, b) -> Mul(s) -> Add(t), s and t constant scalars  =>  Conv(x; s*W, s*b + t)
- Mul(s) -> Add(t) -> Conv(.; W, b) without padding  =>  Conv(x; s*W, b + t*sum(W))  (with padding the border
  would see t where it saw 0, so a padded convolution keeps its Mul and Add)

Outputs agree with the original graph to float rounding (about 1e-6; `tests/unit/quality/test_ocr_graph.py`
compares both graphs and what they read). A graph without these patterns comes back unchanged.
"""
from __future__ import annotations

import collections
from pathlib import Path

import numpy as np

__all__ = ["fuse_for_cpu", "fused_model_bytes"]


def fuse_for_cpu(model) -> dict[str, int]:
    """Rewrite `model` (an `onnx.ModelProto`) in place; returns how many of each pattern were fused."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in graph.node
              if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}
    consts.update({i.name: numpy_helper.to_array(i) for i in graph.initializer})
    graph_outputs = {o.name for o in graph.output}
    consumers = collections.defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)

    def sole(name: str, op: str):
        """The one node reading `name`, if it is an `op` and nothing else reads it (the graph's outputs neither)."""
        readers = consumers[name]
        ok = len(readers) == 1 and readers[0].op_type == op and name not in graph_outputs
        return readers[0] if ok else None

    def scalar(name: str | None, value: float | None = None) -> float | None:
        arr = consts.get(name) if name else None
        if arr is None or arr.size != 1:
            return None
        x = float(arr.reshape(-1)[0])
        return x if value is None or abs(x - value) < 1e-6 else None

    def other_input(node, known: str) -> str | None:
        rest = [i for i in node.input if i != known]
        return rest[0] if len(node.input) == 2 and len(rest) == 1 else None

    replace: dict[int, list] = {}
    removed: set[int] = set()
    counts = {"hard_swish": 0, "conv_affine": 0, "affine_conv": 0}
    for node in graph.node:
        if id(node) in removed:  # already part of a pattern found earlier
            continue
        if node.op_type == "Add" and len(node.input) == 2:
            xs = [i for i in node.input if scalar(i, 3.0) is None]
            clip = sole(node.output[0], "Clip") if len(xs) == 1 else None
            if clip is None or len(clip.input) != 3 or scalar(clip.input[1], 0.0) is None \
                    or scalar(clip.input[2], 6.0) is None:
                continue
            mul = sole(clip.output[0], "Mul")
            div = sole(mul.output[0], "Div") if mul is not None and xs[0] in mul.input else None
            if div is None or scalar(div.input[1], 6.0) is None:
                continue
            gate = node.name + "_hardsigmoid"
            replace[id(node)] = [
                helper.make_node("HardSigmoid", [xs[0]], [gate], alpha=1.0 / 6.0, beta=0.5, name=gate),
                helper.make_node("Mul", [xs[0], gate], [div.output[0]], name=node.name + "_hardswish"),
            ]
            removed.update({id(clip), id(mul), id(div)})
            counts["hard_swish"] += 1
        elif node.op_type == "Conv" and len(node.input) >= 2 and node.input[1] in consts:
            mul = sole(node.output[0], "Mul")
            s = scalar(other_input(mul, node.output[0])) if mul is not None else None
            add = sole(mul.output[0], "Add") if s is not None else None
            t = scalar(other_input(add, mul.output[0])) if add is not None else None
            if t is None:
                continue
            weight = consts[node.input[1]]
            bias = consts[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros(weight.shape[0])
            w_name, b_name = node.name + "_affine_w", node.name + "_affine_b"
            graph.initializer.extend([numpy_helper.from_array((weight * s).astype(np.float32), w_name),
                                      numpy_helper.from_array((bias * s + t).astype(np.float32), b_name)])
            conv = helper.make_node("Conv", [node.input[0], w_name, b_name], [add.output[0]], name=node.name)
            conv.attribute.extend(node.attribute)
            replace[id(node)] = [conv]
            removed.update({id(mul), id(add)})
            counts["conv_affine"] += 1
    # A scalar affine feeding an unpadded convolution (the 1 x 1 after each depthwise block): fold it into that
    # convolution's weights. Exact only without padding (a padded border would see t where it saw 0).
    for node in graph.node:
        if node.op_type != "Mul" or id(node) in removed or id(node) in replace or len(node.input) != 2:
            continue
        xs = [i for i in node.input if scalar(i) is None]
        s = next((scalar(i) for i in node.input if scalar(i) is not None), None)
        add = sole(node.output[0], "Add") if len(xs) == 1 and s is not None else None
        t = scalar(other_input(add, node.output[0])) if add is not None and id(add) not in removed else None
        conv = sole(add.output[0], "Conv") if t is not None else None
        if conv is None or id(conv) in removed or conv.input[0] != add.output[0] or conv.input[1] not in consts \
                or any(a.name == "pads" and any(a.ints) for a in conv.attribute) \
                or any(a.name == "auto_pad" and a.s not in (b"", b"NOTSET", b"VALID") for a in conv.attribute):
            continue
        target = replace.get(id(conv), [conv])[0]  # the convolution as rewritten above, if it was
        weight = _value(target.input[1], consts, graph)
        bias = _value(target.input[2], consts, graph) if len(target.input) > 2 and target.input[2] \
            else np.zeros(weight.shape[0])
        w_name, b_name = conv.name + "_in_affine_w", conv.name + "_in_affine_b"
        graph.initializer.extend([
            numpy_helper.from_array((weight * s).astype(np.float32), w_name),
            numpy_helper.from_array((bias + t * weight.reshape(weight.shape[0], -1).sum(axis=1)).astype(np.float32),
                                    b_name)])
        folded = helper.make_node("Conv", [xs[0], w_name, b_name], list(target.output), name=conv.name)
        folded.attribute.extend(conv.attribute)
        replace[id(conv)] = [folded] + replace.get(id(conv), [conv])[1:]
        removed.update({id(node), id(add)})
        counts["affine_conv"] += 1
    nodes = []
    for node in graph.node:
        if id(node) in replace:
            nodes.extend(replace[id(node)])
        elif id(node) not in removed:
            nodes.append(node)
    # Drop the constants the rewrite left unread (the original weights of the folded convolutions). A subgraph
    # (If, Loop) can read outer names without listing them as inputs: with one, keep everything.
    subgraphs = any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in nodes for a in n.attribute)
    read = {name for node in nodes for name in node.input} | graph_outputs
    if subgraphs:
        read |= {o for n in nodes for o in n.output} | {i.name for i in graph.initializer}
    nodes = [n for n in nodes if n.op_type != "Constant" or any(o in read for o in n.output)]
    kept = [i for i in graph.initializer if i.name in read]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return counts


def _value(name: str, consts: dict, graph) -> np.ndarray:
    """A constant's value, including the initializers this module added."""
    from onnx import numpy_helper

    if name in consts:
        return consts[name]
    return next(numpy_helper.to_array(i) for i in graph.initializer if i.name == name)


def fused_model_bytes(path: str | Path) -> tuple[bytes, dict[str, int]]:
    """The ONNX model at `path`, fused by `fuse_for_cpu` and checked, serialised for `onnxruntime.InferenceSession`."""
    import onnx

    model = onnx.load(str(path))
    counts = fuse_for_cpu(model)
    onnx.checker.check_model(model)
    return model.SerializeToString(), counts
