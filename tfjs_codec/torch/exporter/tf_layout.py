"""The layout pass of the graph-model export: fewer ``Transpose`` nodes, same numbers.

The translation keeps every tensor in torch's layout and wraps each channels-last-only op
(convolutions, pooling, resizing) in NCHW -> NHWC -> NCHW transposes. This pass then, until
nothing changes:

- merges a ``Transpose`` of a ``Transpose`` into one (and drops an identity permutation);
- *sinks* a ``Transpose`` below the ops that do not care about the layout when it has no
  other kind of consumer: elementwise unary ops, elementwise binary ops whose other operand
  is the same transpose of something or a constant (the constant is permuted instead),
  reductions (the axes are renumbered), ``ConcatV2`` (the axis), pads (the paddings rows);
- merges equal transposes of one tensor.

So a conv -> batch-norm -> activation -> conv stack, residual adds and squeeze-excite products
included, runs channels-last with no transpose between the convolutions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .tf_graph import GraphBuilder, TfNode, attr_type

__all__ = ["optimize_layout"]

_UNARY = frozenset(
    {
        "Relu",
        "Relu6",
        "Sigmoid",
        "Tanh",
        "Elu",
        "Selu",
        "LeakyRelu",
        "Softplus",
        "Erf",
        "Exp",
        "Log",
        "Neg",
        "Abs",
        "Sqrt",
        "Rsqrt",
        "Square",
        "Floor",
        "Ceil",
        "Round",
        "Sign",
        "Reciprocal",
        "Log1p",
        "Expm1",
        "Cast",
        "LogicalNot",
        "Sin",
        "Cos",
        "IsNan",
        "Identity",
    }
)
_BINARY = frozenset(
    {
        "AddV2",
        "Add",
        "Sub",
        "Mul",
        "RealDiv",
        "Div",
        "Maximum",
        "Minimum",
        "SquaredDifference",
        "Pow",
        "FloorDiv",
        "FloorMod",
        "Equal",
        "NotEqual",
        "Less",
        "LessEqual",
        "Greater",
        "GreaterEqual",
        "LogicalAnd",
        "LogicalOr",
        "SelectV2",
        "ClipByValue",
        "Prelu",
    }
)
_REDUCE = frozenset({"Mean", "Sum", "Max", "Min", "Prod", "Any", "All"})
_PADS = frozenset({"Pad", "PadV2", "MirrorPad"})


def _node(ref: str) -> str:
    name, sep, idx = ref.rpartition(":")
    return name if sep and idx.isdigit() else ref


def _perm(g: GraphBuilder, node: TfNode) -> list[int] | None:
    v = g.const_value(node.inputs[1])
    return None if v is None else [int(a) for a in v.reshape(-1)]


class _Pass:
    def __init__(self, g: GraphBuilder, outputs: Sequence[str]) -> None:
        self.g = g
        self.outputs = {_node(o) for o in outputs}

    def consumers(self) -> dict[str, list[TfNode]]:
        out: dict[str, list[TfNode]] = {n: [] for n in self.g.nodes}
        for node in self.g.nodes.values():
            for r in node.inputs:
                out.setdefault(_node(r), []).append(node)
        return out

    def replace_uses(self, old: str, new: str) -> None:
        for node in self.g.nodes.values():
            node.inputs = [new if r == old else r for r in node.inputs]

    def new_transpose(self, src: str, perm: list[int], shape: list[int], dtype: str) -> str:
        pv = self.g.const(f"{src}/perm", np.asarray(perm, dtype=np.int32))
        return self.g.add(
            f"{src}/Transpose", "Transpose", [src, pv], {"T": attr_type(dtype), "Tperm": attr_type("int32")}, [shape], [dtype]
        )

    # ------------------------------------------------------------------ rules

    def merge(self) -> bool:
        changed = False
        for node in list(self.g.nodes.values()):
            if node.op != "Transpose" or node.name not in self.g.nodes:
                continue
            perm = _perm(self.g, node)
            if perm is None:
                continue
            src = self.g.nodes.get(_node(node.inputs[0]))
            if src is not None and src.op == "Transpose" and ":" not in node.inputs[0]:
                inner = _perm(self.g, src)
                if inner is not None:
                    composed = [inner[p] for p in perm]
                    node.inputs = [src.inputs[0], self.g.const(f"{node.name}/perm", np.asarray(composed, dtype=np.int32))]
                    perm = composed
                    changed = True
            if perm == list(range(len(perm))) and node.name not in self.outputs:
                self.replace_uses(node.name, node.inputs[0])
                del self.g.nodes[node.name]
                changed = True
        # a transpose that moves only size-1 dims, read only by Reshapes, is a reshape itself
        cons = self.consumers()
        for node in list(self.g.nodes.values()):
            if node.op != "Transpose" or node.name in self.outputs:
                continue
            perm = _perm(self.g, node)
            users = cons.get(node.name, [])
            if perm is None or not users or any(u.op != "Reshape" or u.inputs[0] != node.name for u in users):
                continue
            shape = self.g.shape_of(node.inputs[0])
            moved = [p for p in perm if shape[p] != 1]
            if moved == sorted(moved):
                for u in users:
                    u.inputs[0] = node.inputs[0]
                del self.g.nodes[node.name]
                changed = True
        # equal transposes of one tensor
        seen: dict[tuple[str, tuple[int, ...]], str] = {}
        for node in list(self.g.nodes.values()):
            if node.op != "Transpose" or node.name in self.outputs:
                continue
            perm = _perm(self.g, node)
            if perm is None:
                continue
            key = (node.inputs[0], tuple(perm))
            if key in seen:
                self.replace_uses(node.name, seen[key])
                del self.g.nodes[node.name]
                changed = True
            else:
                seen[key] = node.name
        return changed

    def sink(self) -> bool:
        cons = self.consumers()
        for node in list(self.g.nodes.values()):
            if node.op != "Transpose" or node.name not in self.g.nodes or node.name in self.outputs:
                continue
            perm = _perm(self.g, node)
            users = cons.get(node.name, [])
            if perm is None or not users:
                continue
            if all(self._can_sink(u, node.name, perm) for u in users):
                for u in {u.name: u for u in users}.values():
                    self._sink_through(u, perm)
                return True
        return False

    def _transposed_same(self, ref: str, perm: list[int]) -> bool:
        n = self.g.nodes.get(_node(ref))
        return (
            n is not None and n.op == "Transpose" and ":" not in ref and _perm(self.g, n) == perm and n.name not in self.outputs
        )

    def _derives(self, ref: str, tname: str, depth: int) -> bool:
        """True when ``ref`` is computed from ``tname`` through layout-agnostic ops only (within ``depth`` steps)."""
        n = self.g.nodes.get(_node(ref))
        if n is None or depth <= 0 or ":" in ref:
            return False
        if n.op not in _UNARY and n.op not in _BINARY:
            return False
        found = False
        for r in n.inputs:
            if _node(r) == tname:
                found = True
            elif self.g.const_value(r) is not None:
                continue
            elif self._derives(r, tname, depth - 1):
                found = True
            else:
                return False
        return found

    def _can_sink(self, user: TfNode, tname: str, perm: list[int]) -> bool:
        if len(user.shapes) != 1:
            return False
        rank = len(perm)
        if user.op == "Transpose":
            return user.inputs[0] == tname
        if user.name in self.outputs:
            return False
        if user.op in _UNARY:
            return True
        if user.op in _BINARY:
            for r in user.inputs:
                if _node(r) == tname or self._transposed_same(r, perm):
                    continue
                v = self.g.const_value(r)
                if v is None and self._derives(r, tname, 8):
                    continue  # computed from the same transpose: it will be transposed alike
                if v is None or v.ndim > rank:
                    return False
            return True
        if user.op in _REDUCE:
            return user.inputs[0] == tname and self.g.const_value(user.inputs[1]) is not None
        if user.op == "ConcatV2":
            return (
                all(self._transposed_same(r, perm) for r in user.inputs[:-1]) and self.g.const_value(user.inputs[-1]) is not None
            )
        if user.op in _PADS:
            return (
                user.inputs[0] == tname
                and self.g.const_value(user.inputs[1]) is not None
                and all(self.g.const_value(r) is not None for r in user.inputs[1:])
            )
        return False

    def _sink_through(self, user: TfNode, perm: list[int]) -> None:
        """Rewrite ``user`` to work on the untransposed tensors; a transpose of its output replaces it."""
        g = self.g
        rank = len(perm)
        inv = [perm.index(i) for i in range(rank)]
        old_shape = user.shapes[0]
        if user.op == "Transpose":  # transpose of a transpose: one permutation
            outer = _perm(g, user)
            src = g.nodes[_node(user.inputs[0])]
            if outer is not None:
                user.inputs = [src.inputs[0], g.const(f"{user.name}/perm", np.asarray([perm[p] for p in outer], dtype=np.int32))]
            return
        new_inputs: list[str] = []
        data_inputs = (
            user.inputs[:-1] if user.op == "ConcatV2" else user.inputs[:1] if user.op in _REDUCE | _PADS else user.inputs
        )
        for r in data_inputs:
            prod = g.nodes.get(_node(r))
            if prod is not None and prod.op == "Transpose" and ":" not in r and _perm(g, prod) == perm:
                new_inputs.append(prod.inputs[0])
                continue
            v = g.const_value(r)
            if v is None:  # derived from the transposed tensor: transposed back (merges with its own later)
                new_inputs.append(self.new_transpose(r, inv, [g.shape_of(r)[i] for i in inv], g.dtype_of(r)))
                continue
            if v.ndim == 0 or v.size == 1:
                new_inputs.append(r)
                continue
            full = v.reshape((1,) * (rank - v.ndim) + v.shape)
            moved = np.ascontiguousarray(np.transpose(full, inv))
            new_inputs.append(g.const(f"{_node(r)}", moved))
        out_rank = rank
        out_perm = perm
        if user.op == "ConcatV2":
            axis = int(g.const_value(user.inputs[-1]))  # type: ignore[arg-type]
            new_inputs.append(g.const(f"{user.name}/axis", np.asarray(perm[axis % rank], dtype=np.int32)))
        elif user.op in _REDUCE:
            axes = [int(a) % rank for a in np.asarray(g.const_value(user.inputs[1])).reshape(-1)]
            new_axes = sorted(perm[a] for a in axes)
            new_inputs.append(g.const(f"{user.name}/axes", np.asarray(new_axes, dtype=np.int32)))
            keep = bool(user.attr.get("keep_dims", {}).get("b", False))
            if not keep:
                kept = [perm[i] for i in range(rank) if i not in axes]  # input axes, in the output's order
                order = sorted(kept)
                out_perm = [order.index(a) for a in kept]
                out_rank = len(kept)
        elif user.op in _PADS:
            pads = np.asarray(g.const_value(user.inputs[1]))
            new_inputs.append(g.const(f"{user.name}/paddings", np.ascontiguousarray(pads[inv])))
            new_inputs.extend(user.inputs[2:])
        user.inputs = new_inputs
        if out_perm == list(range(out_rank)):
            new_shape = list(old_shape)
            user.shapes = [new_shape]
            return
        inv_out = [out_perm.index(i) for i in range(out_rank)]
        new_shape = [old_shape[i] for i in inv_out]
        user.shapes = [new_shape]
        old_name = user.name
        # the transposed output takes over the user's name, so consumers and outputs need no rewiring
        tmp = g.unique(f"{old_name}/pre")
        g.nodes[tmp] = TfNode(tmp, user.op, user.inputs, user.attr, user.shapes, user.dtypes)
        del g.nodes[old_name]
        pv = g.const(f"{old_name}/perm", np.asarray(out_perm, dtype=np.int32))
        g.nodes[old_name] = TfNode(
            old_name,
            "Transpose",
            [tmp, pv],
            {"T": attr_type(user.dtypes[0]), "Tperm": attr_type("int32")},
            [list(old_shape)],
            list(user.dtypes),
        )


def optimize_layout(g: GraphBuilder, outputs: Sequence[str]) -> None:
    """Run the pass on ``g`` in place; ``outputs`` are the output node names (kept as they are)."""
    p = _Pass(g, outputs)
    for _ in range(10_000):
        changed = p.merge()
        changed = p.sink() or changed
        if not changed:
            break
    g.prune(list(outputs), keep=[n.name for n in g.nodes.values() if n.op == "Placeholder"])
