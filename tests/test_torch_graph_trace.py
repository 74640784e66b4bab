"""Graph modules trace: ``torch.export`` takes every published graph model whose graph has no
control flow, and the exported program computes what the eager module does, bit for bit;
``torch.compile(fullgraph=True)`` takes each of them whole (measured on all, tested on five, see
``COMPILED``) and matches eager within float rounding, each module a function of its own to it.
What cannot be traced (control flow run by the graph interpreter, non-max suppression, top-k
with a run-time k) is refused with a message naming the node (docs/graph-models.md,
"Export and compile").

The models and their recorded inputs are the ones tests/test_torch_graph_zoo.py compares with
tfjs (``load_case``); the converter fixtures are tests/test_torch_graph.py's.
"""

from __future__ import annotations

import pytest
from conftest import FIXTURES, require_torch
from npm_models import HUMAN_MODELS
from test_torch_graph import GRAPH_FIXTURES, _inputs
from test_torch_graph_zoo import _cases, _const, _n, _write_graph, load_case

#: The published models whose graph has control flow (TF1 Switch/Merge, TensorArray loops), which
#: the graph interpreter runs eagerly: export refuses them, naming the first control-flow node.
REFUSED = {
    "faceboxes": ("Enter", "nms/map/while/Enter_1", 49),
    "handtrack": ("TensorListReserve", "StatefulPartitionedCall/map/TensorArrayV2_1", 34),
    "rvm": (
        "Switch",
        "StatefulPartitionedCall/matting_network_wrapper/StatefulPartitionedCall/cond_1/Func/StatefulPartitionedCall/"
        "matting_network_wrapper/StatefulPartitionedCall/input/_327/_669",
        13,
    ),
}
#: torch.compile(fullgraph=True) takes every model torch.export takes: all 38 compiled and matched
#: eager within the bound below (measured, torch 2.13 CPU, AMD EPYC, each in a fresh process and
#: Inductor cache on 2 cores that other jobs kept busy: 20 s (emotion) to 9 min (blazepose-full)
#: each, worst difference 0.035x the bound (centernet)). The test compiles the ones that cost
#: least and cover the forms: literal axes and paddings, shape arithmetic on a run-time shape
#: feeding Reshape (facemesh-detection-short), pooling with SAME padding and matmuls (age, and
#: gender-ssrnet-imdb: the same network compiled right after it, the sequence that compiled age
#: wrong when graph modules shared one forward), depthwise convolutions and PReLU (mobileface).
#: Measured in this test, one process, cold cache, 2 cores (load ~1): 84 s for the five (antispoof
#: 16 s with Inductor's start, facemesh-detection-short 24 s, age 18 s, gender-ssrnet-imdb 11 s,
#: mobileface 14 s): the last three add 43 s.
COMPILED = ["antispoof", "facemesh-detection-short", "age", "gender-ssrnet-imdb", "mobileface"]


def _outputs(y) -> tuple:
    return y if isinstance(y, tuple) else (y,)


def _export_or_refusal(slug: str, model: str, npm_package_dirs):
    torch = require_torch()
    from tfjs_codec.errors import TfjsFormatError

    _, _, net, feeds = load_case(slug, model, npm_package_dirs)
    try:
        program = torch.export.export(net, tuple(feeds))
    except TfjsFormatError as e:
        return net, feeds, None, str(e)
    return net, feeds, program, None


@pytest.mark.parametrize("slug,model", _cases())
def test_published_graph_model_exports(slug, model, npm_package_dirs):
    """torch.export takes the model (or refuses it, naming the node, for the documented reason),
    and the exported program's outputs are the eager module's, bit for bit."""
    torch = require_torch()
    net, feeds, program, refusal = _export_or_refusal(slug, model, npm_package_dirs)
    if model in REFUSED:
        op, node, more = REFUSED[model]
        assert refusal == (
            f"{model}.json: modelTopology: the graph has control flow ({op} node {node!r} and {more} more control-flow "
            "nodes), run by the graph interpreter: torch.export and torch.compile cannot trace it (the module runs it eagerly)"
        )
        return
    assert refusal is None
    with torch.no_grad():
        want = _outputs(net(*feeds))
        got = _outputs(program.module()(*feeds))
    assert len(got) == len(want)
    for name, g, w in zip(net.output_names, got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape, name
        assert torch.equal(g, w), name


@pytest.mark.parametrize("model", COMPILED)
def test_published_graph_model_compiles_whole(model, npm_package_dirs):
    """torch.compile(fullgraph=True) takes the whole forward; outputs match eager within float
    rounding (Inductor fuses and reorders float arithmetic)."""
    torch = require_torch()
    _, _, net, feeds = load_case(HUMAN_MODELS.slug, model, npm_package_dirs)
    with torch.no_grad():
        want = _outputs(net(*feeds))
        got = _outputs(torch.compile(net, fullgraph=True)(*feeds))
    for name, g, w in zip(net.output_names, got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape, name
        scale = float(w.abs().max()) if w.is_floating_point() and w.numel() else 0.0
        torch.testing.assert_close(g, w, rtol=0, atol=1e-4 + 1e-4 * scale, msg=name)


def _elementwise_graph(folder, op: str):
    nodes = [_n("x", "Placeholder", dtype={"type": "DT_FLOAT"}), _n("y", op, "x")]
    return _write_graph(folder, nodes, {"y": "y:0"})


def test_each_graph_module_compiles_as_a_function_of_its_own(tmp_path):
    """Two graph models compiled in one process are two functions to torch.compile, not one
    recompiled: a second model's input sizes are not turned into symbols ("automatic dynamic
    shapes", which compiled age wrong after antispoof) and no model counts toward another's
    recompile limit."""
    torch = require_torch()
    import tfjs_codec as tc
    from tfjs_codec import torch as tct

    nets = []
    for op in ("Relu", "Sigmoid"):
        (tmp_path / op).mkdir()
        with tc.load(_elementwise_graph(tmp_path / op, op)) as m:
            nets.append(tct.to_module(m))
    assert nets[0].forward.__func__.__code__ is not nets[1].forward.__func__.__code__
    xs = [torch.linspace(-2, 2, 12).reshape(3, 4), torch.linspace(-2, 2, 30).reshape(5, 6)]
    torch._dynamo.reset()
    with torch._dynamo.config.patch(error_on_recompile=True), torch.no_grad():
        got = [torch.compile(net, fullgraph=True)(x) for net, x in zip(nets, xs, strict=True)]
    assert torch.equal(got[0], torch.relu(xs[0]))
    torch.testing.assert_close(got[1], torch.sigmoid(xs[1]))


@pytest.mark.parametrize("case", GRAPH_FIXTURES)
def test_converter_graph_fixture_exports(case):
    """The converter fixtures (every op family the tests record) export, and the program computes
    what the eager module does."""
    torch = require_torch()
    import tfjs_codec as tc
    from tfjs_codec import torch as tct

    with tc.load(FIXTURES / case) as model:
        net = tct.to_module(model)
    _, xs = _inputs(case)
    program = torch.export.export(net, tuple(xs))
    with torch.no_grad():
        for g, w in zip(_outputs(program.module()(*xs)), _outputs(net(*xs)), strict=True):
            assert torch.equal(g, w)


def test_generated_forward_has_literals_and_shape_arithmetic(npm_package_dirs):
    """Constant shapes and axes are literals in the source, shapes of run-time tensors are Python
    ints on ``x.shape``; nothing in forward reads a tensor's value back into Python."""
    _, _, net, _ = load_case(HUMAN_MODELS.slug, "blazepose-detector", npm_package_dirs)
    code = net.code
    assert "Pad(input, [[0, 0], [1, 1], [1, 1], [0, 0]])" in code
    assert "v_shape = list(v_biasadd.shape)  # StatefulPartitionedCall/model/reshaped_classifier_person_8/Shape" in code
    assert "v_strided_slice = v_shape[0]" in code
    for call in (".item()", ".tolist()", "int("):
        assert call not in code


def _nms_graph(tmp_path):
    nodes = [
        _n("boxes", "Placeholder", dtype={"type": "DT_FLOAT"}),
        _n("scores", "Placeholder", dtype={"type": "DT_FLOAT"}),
        _const("max_out", 3),
        _const("iou", 0.5, "DT_FLOAT"),
        _const("score", 0.0, "DT_FLOAT"),
        _n("nms", "NonMaxSuppressionV3", "boxes", "scores", "max_out", "iou", "score"),
    ]
    return _write_graph(tmp_path, nodes, {"selected": "nms:0"})


def test_dynamic_ops_run_eagerly_and_refuse_export_naming_the_node(tmp_path):
    torch = require_torch()
    import tfjs_codec as tc
    from tfjs_codec import torch as tct
    from tfjs_codec.errors import TfjsFormatError

    with tc.load(_nms_graph(tmp_path)) as m:
        net = tct.to_module(m)
    boxes = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1.01], [2, 2, 3, 3]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert net(boxes, scores).tolist() == [0, 2]
    with pytest.raises(TfjsFormatError) as e:
        torch.export.export(net, (boxes, scores))
    assert str(e.value) == (
        "model.json: node 'nms' (NonMaxSuppressionV3): non-max suppression runs in Python on the boxes' values: "
        "torch.export and torch.compile cannot trace it (the module runs it eagerly)"
    )


def test_where_and_top_k_with_a_constant_k_export(tmp_path):
    """Where's row count is an unbacked size; TopKV2 with a constant k sorts in torch: both trace."""
    torch = require_torch()
    import tfjs_codec as tc
    from tfjs_codec import torch as tct

    nodes = [
        _n("x", "Placeholder", dtype={"type": "DT_FLOAT"}),
        _const("k", 2),
        _n("where", "Where", "x"),
        _n("top", "TopKV2", "x", "k"),
    ]
    with tc.load(_write_graph(tmp_path, nodes, {"coords": "where:0", "values": "top:0", "indices": "top:1"})) as m:
        net = tct.to_module(m)
    assert "TopKV2(x, 2)" in net.code
    x = torch.tensor([[1.0, 0.0, 3.0], [0.0, 2.0, 5.0]])
    program = torch.export.export(net, (x,))
    got, want = program.module()(x), net(x)
    assert want[0].tolist() == [[0, 0], [0, 2], [1, 1], [1, 2]]
    assert all(torch.equal(g, w) for g, w in zip(got, want, strict=True))
