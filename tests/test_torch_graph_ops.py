"""Graph-model op functions against hand computations where tfjs' semantics are subtle."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from conftest import require_torch

import tfjs_codec as tc


def _ops():
    require_torch()
    from tfjs_codec.torch.graph import OPS, Node, supported_ops

    supported_ops()  # loads every op family
    return OPS, Node


def _attr(v):
    if isinstance(v, bool):
        return {"b": v}
    if isinstance(v, int):
        return {"i": str(v)}
    if isinstance(v, float):
        return {"f": v}
    if isinstance(v, str):
        return {"s": base64.b64encode(v.encode()).decode()}
    if isinstance(v, list) and all(isinstance(i, int) for i in v):
        return {"list": {"i": [str(i) for i in v]}}
    if isinstance(v, list):
        return {"list": {"s": [base64.b64encode(s.encode()).decode() for s in v]}}
    raise TypeError(v)


def run(op, *inputs, **attrs):
    """Call the registered op function on a node built from JSON-protobuf attributes."""
    ops, node_cls = _ops()
    node = node_cls({"name": "n", "op": op, "attr": {k: _attr(v) for k, v in attrs.items()}})
    return ops[op](node, *inputs)


def t(data, dtype=None):
    torch = require_torch()
    return torch.tensor(data, dtype=dtype if dtype is not None else None)


# --------------------------------------------------------------------------- resize


@pytest.mark.parametrize(
    ("align", "half", "want"),
    [
        (False, False, [0, 5, 10, 10]),  # src = c * 0.5
        (True, False, [0, 10 / 3, 20 / 3, 10]),  # src = c * (2-1)/(4-1)
        (False, True, [0, 2.5, 7.5, 10]),  # src = (c + 0.5) * 0.5 - 0.5, clamped at the borders
    ],
)
def test_resize_bilinear_modes(align, half, want):
    torch = require_torch()
    x = t([0.0, 10.0]).reshape(1, 1, 2, 1)
    y = run("ResizeBilinear", x, t([1, 4], torch.int32), align_corners=align, half_pixel_centers=half)
    assert y.shape == (1, 1, 4, 1)
    assert np.allclose(y.reshape(-1).numpy(), want, atol=1e-6)


@pytest.mark.parametrize(
    ("align", "half", "want"),
    [
        (False, False, [0, 0, 10, 10, 20]),  # floor(c * 0.6)
        (True, False, [0, 10, 10, 20, 20]),  # round-half-up(c * 0.5)
        (False, True, [0, 0, 10, 20, 20]),  # floor((c + 0.5) * 0.6), no -0.5 for nearest
    ],
)
def test_resize_nearest_modes(align, half, want):
    torch = require_torch()
    x = t([0.0, 10.0, 20.0]).reshape(1, 3, 1, 1)
    y = run("ResizeNearestNeighbor", x, t([5, 1], torch.int32), align_corners=align, half_pixel_centers=half)
    assert y.reshape(-1).tolist() == want


def test_resize_int_input_bilinear_gives_float_nearest_keeps_dtype():
    torch = require_torch()
    x = t([[1, 3]], torch.int32).reshape(1, 1, 2, 1)
    assert run("ResizeBilinear", x, t([1, 3], torch.int32)).dtype == torch.float32
    assert run("ResizeNearestNeighbor", x, t([1, 3], torch.int32)).dtype == torch.int32


# --------------------------------------------------------------------------- StridedSlice


def _ss(x, begin, end, strides, **masks):
    torch = require_torch()
    i32 = torch.int32
    return run("StridedSlice", x, t(begin, i32), t(end, i32), t(strides, i32), **masks).numpy()


def test_strided_slice_masks_match_python_slicing():
    torch = require_torch()
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    x = torch.from_numpy(a)
    # a[1:, ::-1, 1:3]  (end_mask on axis 1, negative stride)
    assert np.array_equal(_ss(x, [1, 0, 1], [2, 0, 3], [1, -1, 1], begin_mask=2, end_mask=2), a[1:, ::-1, 1:3])
    # a[..., 2]  (ellipsis, shrink)
    assert np.array_equal(_ss(x, [0, 2], [0, 3], [1, 1], ellipsis_mask=1, shrink_axis_mask=2), a[..., 2])
    # a[:, np.newaxis, -1, 1:]
    got = _ss(x, [0, 0, -1, 1], [0, 0, 0, 0], [1, 1, 1, 1], begin_mask=1, end_mask=9, new_axis_mask=2, shrink_axis_mask=4)
    assert np.array_equal(got, a[:, np.newaxis, -1, 1:])
    # a[-1:, np.newaxis, ..., 1::3]
    got = _ss(x, [-1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 3], end_mask=9, new_axis_mask=2, ellipsis_mask=4)
    assert np.array_equal(got, a[-1:, np.newaxis, ..., 1::3])
    # a[1:, ::-2, 3:0:-1]  (negative strides with explicit bounds)
    got = _ss(x, [1, 0, 3], [0, 0, 0], [1, -2, -1], end_mask=3, begin_mask=2)
    assert np.array_equal(got, a[1:, ::-2, 3:0:-1])
    # out-of-range bounds are clamped, as Python does
    assert np.array_equal(_ss(x, [-10, 1], [10, 99], [1, 2]), a[-10:10, 1:99:2])
    # new-axis bit wins over a shrink bit at the same position
    assert np.array_equal(_ss(x, [0], [1], [1], new_axis_mask=1, shrink_axis_mask=1), a[np.newaxis])


# --------------------------------------------------------------------------- convolutions


def test_explicit_padding_is_zero_padding_then_valid():
    torch = require_torch()
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((1, 5, 6, 2)).astype(np.float32))
    w = torch.from_numpy(rng.standard_normal((3, 2, 2, 4)).astype(np.float32))
    pads = [0, 0, 2, 1, 0, 3, 0, 0]  # top 2, bottom 1, left 0, right 3
    got = run("Conv2D", x, w, strides=[1, 2, 1, 1], padding="EXPLICIT", explicit_paddings=pads, data_format="NHWC")
    xp = np.pad(x.numpy(), [(0, 0), (2, 1), (0, 3), (0, 0)])
    want = np.zeros((1, (8 - 3) // 2 + 1, 9 - 2 + 1, 4), np.float32)
    for i in range(want.shape[1]):
        for j in range(want.shape[2]):
            patch = xp[0, 2 * i : 2 * i + 3, j : j + 2, :]
            want[0, i, j] = np.einsum("hwc,hwco->o", patch, w.numpy())
    assert np.allclose(got.numpy(), want, atol=1e-5)


def test_same_padding_puts_the_odd_pixel_at_the_end():
    torch = require_torch()
    x = torch.arange(1.0, 5.0).reshape(1, 1, 4, 1)
    w = torch.ones(1, 2, 1, 1)
    # width 4, kernel 2, stride 1: total pad 1, all of it on the right
    y = run("Conv2D", x, w, strides=[1, 1, 1, 1], padding="SAME")
    assert y.reshape(-1).tolist() == [3.0, 5.0, 7.0, 4.0]
    # max pool SAME pads with -inf, avg pool SAME divides by the in-bounds count
    assert run("MaxPool", -x, ksize=[1, 1, 3, 1], strides=[1, 1, 2, 1], padding="SAME").reshape(-1).tolist() == [-1.0, -3.0]
    avg = run("AvgPool", x, ksize=[1, 1, 3, 1], strides=[1, 1, 2, 1], padding="SAME").reshape(-1).tolist()
    assert avg == [2.0, 3.5]  # windows [1, 2, 3] and [3, 4, pad]


def test_conv2d_backprop_input_is_the_gradient_of_conv2d():
    torch = require_torch()
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.standard_normal((1, 7, 6, 3)).astype(np.float32)).requires_grad_()
    w = torch.from_numpy(rng.standard_normal((3, 3, 3, 5)).astype(np.float32))
    for padding in ("SAME", "VALID"):
        y = run("Conv2D", x, w, strides=[1, 2, 2, 1], padding=padding)
        dy = torch.from_numpy(rng.standard_normal(tuple(y.shape)).astype(np.float32))
        (want,) = torch.autograd.grad(y, x, dy)
        got = run("Conv2DBackpropInput", t([1, 7, 6, 3], torch.int32), w, dy, strides=[1, 2, 2, 1], padding=padding)
        assert got.shape == x.shape
        assert torch.allclose(got, want, atol=1e-5)


def test_fused_conv_with_prelu_and_leakyrelu():
    torch = require_torch()
    x = torch.tensor([-2.0, -1.0, 1.0, 2.0]).reshape(1, 1, 4, 1)
    w = torch.ones(1, 1, 1, 2)
    bias, alpha = torch.tensor([0.0, 1.0]), torch.tensor([0.5, 0.25])
    kw = {"strides": [1, 1, 1, 1], "padding": "VALID"}
    got = run("_FusedConv2D", x, w, bias, alpha, fused_ops=["BiasAdd", "Prelu"], num_args=2, **kw)
    assert got[0, 0, :, 0].tolist() == [-1.0, -0.5, 1.0, 2.0]
    assert got[0, 0, :, 1].tolist() == [-0.25, 0.0, 2.0, 3.0]
    got = run("_FusedConv2D", x, w, bias, fused_ops=["BiasAdd", "LeakyRelu"], num_args=1, leakyrelu_alpha=0.1, **kw)
    assert torch.allclose(got[0, 0, :, 1], torch.tensor([-0.1, 0.0, 2.0, 3.0]))


def test_fused_batch_norm_formula():
    torch = require_torch()
    x = torch.tensor([[1.0, 2.0], [3.0, 5.0]])
    scale, offset, mean, var = t([2.0, 0.5]), t([1.0, -1.0]), t([1.0, 3.0]), t([3.99, 0.24])
    y = run("FusedBatchNormV3", x, scale, offset, mean, var, epsilon=0.01)
    want = (x.numpy() - mean.numpy()) * scale.numpy() / np.sqrt(var.numpy() + 0.01) + offset.numpy()
    assert np.allclose(y.numpy(), want)


# --------------------------------------------------------------------------- math and shape details


def test_int_division_and_modulo_follow_tfjs():
    torch = require_torch()
    a, b = t([7, -7, 7, -7], torch.int32), t([2, 2, -2, -2], torch.int32)
    assert run("RealDiv", a, b).tolist() == [3, -4, -4, 3]  # int32 division floors
    assert run("FloorMod", a, b).tolist() == [1, 1, -1, -1]  # sign of the divisor
    q = run("FloorDiv", t([1.5, -1.5]), t([1.0, 1.0]))
    assert q.dtype == torch.int32 and q.tolist() == [1, -2]  # tfjs' FloorDiv kernel returns int32


def test_cast_truncates_and_maps_64_bit_types():
    torch = require_torch()
    ops, node_cls = _ops()
    node = node_cls({"name": "c", "op": "Cast", "attr": {"DstT": {"type": "DT_INT64"}}})
    y = ops["Cast"](node, t([-1.7, 1.7, 2.5]))
    assert y.dtype == torch.int32 and y.tolist() == [-1, 1, 2]
    node = node_cls({"name": "c", "op": "Cast", "attr": {"DstT": {"type": "DT_BOOL"}}})
    assert ops["Cast"](node, t([0.0, 0.5])).tolist() == [False, True]


def test_mirror_pad_modes():
    torch = require_torch()
    x = t([1.0, 2.0, 3.0])
    pads = t([[2, 2]], torch.int32)
    assert run("MirrorPad", x, pads, mode="REFLECT").tolist() == [3, 2, 1, 2, 3, 2, 1]
    assert run("MirrorPad", x, pads, mode="SYMMETRIC").tolist() == [2, 1, 1, 2, 3, 3, 2]


def test_gather_with_batch_dims_and_gather_nd():
    torch = require_torch()
    p = torch.arange(24).reshape(2, 3, 4)
    idx = t([[0, 3], [2, 1]], torch.int32)
    got = run("GatherV2", p, idx, t(2, torch.int32), batch_dims=1)
    want = np.stack([p.numpy()[b][:, idx.numpy()[b]] for b in range(2)])
    assert np.array_equal(got.numpy(), want)
    got = run("GatherNd", p, t([[1, 2], [0, 0]], torch.int32))
    assert np.array_equal(got.numpy(), p.numpy()[[1, 0], [2, 0]])


def test_one_hot_out_of_range_is_all_off_and_axis_is_last():
    torch = require_torch()
    y = run("OneHot", t([1, -1, 3], torch.int32), t(3, torch.int32), t(5.0), t(0.0), axis=0)  # tfjs ignores axis
    assert y.tolist() == [[0, 5, 0], [0, 0, 0], [0, 0, 0]]


def test_space_batch_round_trip():
    torch = require_torch()
    x = torch.arange(2 * 4 * 6 * 1, dtype=torch.float32).reshape(2, 4, 6, 1)
    i32 = torch.int32
    sb = run("SpaceToBatchND", x, t([2, 3], i32), t([[0, 0], [0, 0]], i32))
    assert sb.shape == (12, 2, 2, 1)
    assert sb[2, :, :, 0].tolist() == x[0, 0::2, 1::3, 0].tolist()  # block offset (0, 1) of image 0: batch 1 * 2 + 0
    back = run("BatchToSpaceND", sb, t([2, 3], i32), t([[0, 0], [0, 0]], i32))
    assert torch.equal(back, x)


def test_range_accumulates_in_float32_like_tfjs():
    torch = require_torch()
    y = run("Range", t(0.1), t(1.0), t(0.1))
    want = np.cumsum(np.full(9, np.float32(0.1), dtype=np.float32), dtype=np.float32)
    assert np.array_equal(y.numpy(), want)
    assert run("Range", t(0, torch.int32), t(7, torch.int32), t(3, torch.int32)).tolist() == [0, 3, 6]


def test_node_attributes_decode_json_protobuf():
    torch = require_torch()
    _, node_cls = _ops()
    node = node_cls(
        {
            "name": "n",
            "op": "X",
            "input": ["a", "b:1", "^c"],
            "attr": {
                "T": {"type": "DT_INT64"},
                "s": {"s": "TkhXQw=="},
                "i": {"i": "-3"},
                "f": {"f": "NaN"},
                "l": {"list": {"i": ["1", "2"]}},
                "e": {"list": {}},
                "shape": {"shape": {"dim": [{"size": "-1"}, {"size": "3"}]}},
                "v": {"tensor": {"dtype": "DT_INT32", "tensorShape": {"dim": [{"size": "2"}]}, "intVal": [7]}},
            },
        }
    )
    assert node.inputs == ["a", "b:1"] and node.control == ["c"]
    assert node.attr("T") is torch.int32 and node.attr("s") == "NHWC" and node.attr("i") == -3
    assert np.isnan(node.attr("f")) and node.attr("l") == [1, 2] and node.attr("e") == []
    assert node.attr("shape") == [-1, 3] and node.attr("v").tolist() == [7, 7]
    assert node.attr("missing", 5) == 5
    with pytest.raises(tc.TfjsFormatError) as err:
        node.attr("missing")
    assert str(err.value) == "node 'n' (X): attribute 'missing' is missing"


def test_less_common_ops_against_numpy():
    torch = require_torch()
    i32 = torch.int32
    x = torch.tensor([[-1.5, 0.0, 2.0], [3.0, -0.5, 1.0]])
    xn = x.numpy()
    selu = np.where(xn > 0, 1.0507009873554805 * xn, 1.0507009873554805 * 1.6732632423543772 * (np.exp(xn) - 1))
    assert np.allclose(run("Selu", x).numpy(), selu)
    assert np.allclose(run("Einsum", x, x, equation="ij,kj->ik").numpy(), xn @ xn.T)
    assert run("Cumprod", t([1.0, 2.0, 3.0, 4.0]), t(0, i32), exclusive=True).tolist() == [1, 1, 2, 6]
    assert run("Cumsum", t([1, 2, 3], i32), t(0, i32), reverse=True).tolist() == [6, 5, 3]
    band = run("MatrixBandPart", torch.ones(3, 4), t(1, i32), t(0, i32)).numpy()  # tfjs reads num_upper from input 1
    assert np.array_equal(band, np.triu(np.tril(np.ones((3, 4)), 1), -1))
    assert run("Reciprocal", t([-2, -1, 0, 1, 3], i32)).tolist() == [0, -1, 0, 1, 0]
    assert np.allclose(run("LinSpace", t(0.0), t(1.0), t(5, i32)).numpy(), np.linspace(0, 1, 5))
    got = run("ScatterNd", t([[0], [2], [0]], i32), t([1.0, 2.0, 3.0]), t([4], i32))
    assert got.tolist() == [4.0, 0.0, 2.0, 0.0]  # duplicates add up
    assert run("ReverseV2", x, t([1], i32)).numpy().tolist() == xn[:, ::-1].tolist()
    assert run("SparseToDense", t([[0, 1], [1, 2]], i32), t([2, 3], i32), t([5.0, 6.0]), t(-1.0)).tolist() == [
        [-1, 5, -1],
        [-1, -1, 6],
    ]
    assert run("Squeeze", torch.zeros(1, 2, 1, 3)).shape == (2, 3)
    assert run("Squeeze", torch.zeros(1, 2, 1, 3), squeeze_dims=[-2]).shape == (1, 2, 3)
    assert run("ClipByValue", x, t(-1.0), t(1.0)).numpy().tolist() == np.clip(xn, -1, 1).tolist()
    lrn = run("LRN", x.reshape(1, 1, 2, 3), depth_radius=1, bias=1.0, alpha=0.5, beta=0.75).numpy().reshape(2, 3)
    sq = np.pad(xn**2, [(0, 0), (1, 1)])
    want = xn / (1 + 0.5 * (sq[:, :-2] + sq[:, 1:-1] + sq[:, 2:])) ** 0.75
    assert np.allclose(lrn, want)
    u = run("RandomUniform", t([1000], i32), minval=2.0, maxval=3.0)
    assert u.shape == (1000,) and float(u.min()) >= 2.0 and float(u.max()) < 3.0
    assert run("ArgMin", x, t(1, i32)).tolist() == [0, 1]
    assert run("DivNoNan", t([1.0, 2.0]), t([0.0, 4.0])).tolist() == [0.0, 0.5]
    assert run("EuclideanNorm", x, t([1], i32)).numpy().tolist() == np.sqrt((xn**2).sum(1)).astype(np.float32).tolist()


def _slice_specs():
    """(shape, begin, end, strides, masks, the numpy index of the same spec) for StridedSlice."""
    from hypothesis import strategies as st

    @st.composite
    def specs(draw):
        shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))
        n = draw(st.integers(1, len(shape) + 1))
        kinds = draw(st.lists(st.sampled_from(["slice", "slice", "index", "new", "ellipsis"]), min_size=n, max_size=n))
        if kinds.count("ellipsis") > 1:  # one ellipsis at most
            first = kinds.index("ellipsis")
            kinds = [k if k != "ellipsis" or i == first else "slice" for i, k in enumerate(kinds)]
        named = [i for i, k in enumerate(kinds) if k in ("slice", "index")]
        if len(named) > len(shape):
            return draw(specs())
        # the dimension each named entry addresses: from the front before an ellipsis, from the back after it
        cut = kinds.index("ellipsis") if "ellipsis" in kinds else len(kinds)
        before = [i for i in named if i < cut]
        after = [i for i in named if i > cut]
        dim = {i: d for d, i in enumerate(before)} | {i: len(shape) - len(after) + d for d, i in enumerate(after)}
        begin, end, strides, index = [], [], [], []
        masks = dict.fromkeys(["begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"], 0)
        for i, k in enumerate(kinds):
            bit = 1 << i
            b, e, s = 0, 0, 1
            if k == "ellipsis":
                masks["ellipsis_mask"] |= bit
                index.append(Ellipsis)
            elif k == "new":
                masks["new_axis_mask"] |= bit
                index.append(np.newaxis)
            elif k == "index":
                size = shape[dim[i]]
                b = draw(st.integers(-size, size - 1))
                e = b + 1
                masks["shrink_axis_mask"] |= bit
                index.append(b)
            else:
                b, e, s = draw(st.integers(-7, 7)), draw(st.integers(-7, 7)), draw(st.sampled_from([1, 2, 3, -1, -2]))
                begin_masked, end_masked = draw(st.booleans()), draw(st.booleans())
                masks["begin_mask"] |= bit if begin_masked else 0
                masks["end_mask"] |= bit if end_masked else 0
                index.append(slice(None if begin_masked else b, None if end_masked else e, s))
            begin.append(b)
            end.append(e)
            strides.append(s)
        return shape, begin, end, strides, masks, tuple(index)

    return specs()


def test_strided_slice_property_matches_numpy():
    torch = require_torch()
    from hypothesis import given, settings

    from tfjs_codec.torch.graph.ops_shape import strided_slice

    @settings(max_examples=300, deadline=None)
    @given(_slice_specs())
    def check(spec):
        shape, begin, end, strides, masks, index = spec
        a = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
        got = strided_slice(torch.from_numpy(a), begin, end, strides, **masks).numpy()
        want = a[index]
        assert got.shape == want.shape and np.array_equal(got, want)

    check()
