"""tct.export refuses what tfjs cannot compute exactly, with a message naming the node and the reason."""

from __future__ import annotations

import functools
import json
import re
import subprocess

import numpy as np
import pytest
from conftest import FIXTURES, JS, require_node, require_torch


@functools.cache
def _refusals() -> dict:
    """name -> (() -> (module, example input), the exact error message)."""
    require_torch()
    import torch
    from export_cases import Fn, image, seq_features, vec
    from torch import nn

    return {
        "gru": (
            lambda: (Fn(lambda s, x: s.rnn(x)[0], rnn=nn.GRU(4, 3, batch_first=True)), seq_features()),
            "node 'rnn' (GRU): torch's GRU applies the reset gate after the recurrent product, n = tanh(W_in "
            "x + b_in + r * (W_hn h + b_hn)); tfjs-layers 4.22 runs only reset_after=false, n = tanh(W_in x "
            "+ b_in + W_hn (r * h)), and refuses reset_after=true ('GRUCell does not support reset_after "
            "parameter set to true'). The two differ for any W_hn that is not diagonal, and no other tfjs "
            "layer computes a recurrence, so no exact export exists: use an LSTM, or train the GRU in tfjs",
        ),
        "grouped_conv": (
            lambda: (nn.Conv2d(4, 4, 3, groups=2), image(4)),
            "node 'conv2d' (Conv2d): groups=2 (in 4, out 4): tfjs has no grouped convolution, only depthwise "
            "(groups == in_channels)",
        ),
        "depthwise_dilation": (
            lambda: (nn.Conv2d(3, 3, 3, dilation=2, groups=3), image(3, 8, 8)),
            "node 'conv2d' (Conv2d): dilation [2, 2] on a depthwise convolution: tfjs 4.22's CPU "
            "DepthwiseConv2D ignores dilation_rate",
        ),
        "reflect_pad": (
            lambda: (nn.Conv2d(3, 3, 3, padding=1, padding_mode="reflect"), image()),
            "node 'conv2d' (Conv2d): padding_mode='reflect': tfjs convolutions pad with zeros only",
        ),
        "maxpool_pad": (
            lambda: (nn.MaxPool2d(3, 2, 1), image(3, 8, 6)),
            "node 'max_pool2d' (MaxPool2d): padding [1, 1]: torch pads max pooling with -inf; tfjs can only "
            "pad with zeros (exact only on values >= 0, e.g. after a ReLU) or use 'same' padding, which pads "
            "[[0, 1], [0, 1]] here",
        ),
        "avgpool_exclude": (
            lambda: (nn.AvgPool2d(3, 2, 1, count_include_pad=False), image(3, 8, 6)),
            "node 'avg_pool2d' (AvgPool2d): padding [1, 1] with count_include_pad=False: tfjs' 'same' "
            "average pooling pads [[0, 1], [0, 1]] here; only equal padding can be expressed",
        ),
        "ceil_mode": (
            lambda: (nn.MaxPool2d(2, ceil_mode=True), image(3, 5, 5)),
            "node 'max_pool2d' (MaxPool2d): ceil_mode=True makes a partial last window here; Keras pools "
            "full windows only (ceil_mode=False)",
        ),
        "bilinear": (
            lambda: (nn.Upsample(scale_factor=2, mode="bilinear"), image()),
            "node 'upsample' (Upsample): mode 'bilinear' (align_corners=None): tfjs 4.22's UpSampling2D "
            "resizes bilinearly with align_corners=False and no half-pixel centers (source = destination / "
            "factor), which no torch bilinear mode computes; only 'nearest' upsampling is exact",
        ),
        "upsample_size": (
            lambda: (nn.Upsample(size=(7, 7)), image()),
            "node 'upsample' (Upsample): resizes [6, 5] to [7, 7]: only integer upsampling factors are exact",
        ),
        "lstm_time_major": (
            lambda: (Fn(lambda s, x: s.rnn(x)[0], rnn=nn.LSTM(4, 3)), seq_features()),
            "node 'rnn' (LSTM): batch_first=False: the batch is axis 1 of the input; tfjs takes the batch "
            "first (use batch_first=True)",
        ),
        "lstm_cell_state": (
            lambda: (Fn(lambda s, x: s.rnn(x)[1][1][-1], rnn=nn.LSTM(4, 3, batch_first=True)), seq_features()),
            "node 'getitem_2' (operator.getitem): the LSTM cell state c_n has no tfjs output (tfjs' LSTM "
            "returns h only)",
        ),
        "lstm_lower_layer_state": (
            lambda: (Fn(lambda s, x: s.rnn(x)[1][0][0], rnn=nn.LSTM(4, 3, num_layers=2, batch_first=True)), seq_features()),
            "node 'getitem_2' (operator.getitem): h_n[0] is the final state of layer 0; only the top layer's "
            "final state is a tfjs output",
        ),
        "parameter_used_directly": (
            lambda: (Fn(lambda s, x: s.fc(x) + s.fc.bias, fc=nn.Linear(6, 2)), vec()),
            "node 'fc_bias' (attribute fc.bias): the forward uses the tensor attribute 'fc.bias' directly; "
            "only calls of supported modules and functions on the input can be exported (a constant tensor "
            "has no Keras layer)",
        ),
        "constant_tensor": (
            lambda: (Fn(lambda s, x: x + torch.ones(6)), vec()),
            "node '_tensor_constant0' (attribute _tensor_constant0): the forward uses the tensor attribute "
            "'_tensor_constant0' directly; only calls of supported modules and functions on the input can be "
            "exported (a constant tensor has no Keras layer)",
        ),
        "unsupported_function": (
            lambda: (Fn(lambda s, x: torch.exp(x)), vec()),
            "node 'exp' (torch.exp): function torch.exp is not supported by tfjs_codec.torch.export",
        ),
        "unsupported_module": (
            lambda: (nn.Conv3d(1, 1, 1), torch.zeros(1, 1, 2, 2, 2)),
            "node 'conv3d' (Conv3d): torch module Conv3d is not supported by tfjs_codec.torch.export",
        ),
        "data_dependent": (
            lambda: (Fn(lambda s, x: x if x.sum() > 0 else -x), vec()),
            "module Fn: torch.fx cannot trace its forward (TraceError: symbolically traced variables cannot "
            "be used as inputs to control flow); export needs a forward whose operations do not depend on "
            "tensor values",
        ),
        "batch_mixing_view": (
            lambda: (Fn(lambda s, x: x.view(-1)), vec()),
            "node 'view' (Tensor.view): reshapes [3, 6] to [18]: the batch axis must stay first and whole "
            "(Keras reshapes each sample)",
        ),
        "permute_batch": (
            lambda: (Fn(lambda s, x: x.permute(1, 0)), vec()),
            "node 'permute' (Tensor.permute): permute [1, 0] moves the batch axis; Keras layers work per "
            "sample (the batch stays first)",
        ),
        "softmax_batch": (
            lambda: (nn.Softmax(dim=0), vec()),
            "node 'softmax' (Softmax): softmax over the batch axis 0 cannot be expressed (Keras layers work "
            "per sample)",
        ),
        "divide_by_tensor": (
            lambda: (Fn(lambda s, x: x / (x * x + 1)), vec()),
            "node 'truediv' (operator.truediv): only division of a tensor by a non-zero Python number can be "
            "expressed (Keras has no Divide layer)",
        ),
        "cat_batch": (
            lambda: (Fn(lambda s, x: torch.cat([x, x], 0)), vec()),
            "node 'cat' (torch.cat): concatenation along the batch axis 0 cannot be expressed (Keras layers "
            "work per sample)",
        ),
        "batchnorm_batch_stats": (
            lambda: (nn.BatchNorm1d(6, track_running_stats=False), vec()),
            "node 'batch_norm1d' (BatchNorm1d): track_running_stats=False normalizes with the batch's "
            "statistics at inference; tfjs uses moving statistics",
        ),
        "embedding_max_norm": (
            lambda: (nn.Embedding(5, 2, max_norm=1.0), torch.zeros(2, 3, dtype=torch.long)),
            "node 'embedding' (Embedding): max_norm=1.0: torch renormalizes rows when looked up; tfjs' "
            "Embedding does not",
        ),
        "conv_transpose_output_padding": (
            lambda: (nn.ConvTranspose2d(3, 2, 3, stride=2, output_padding=1), image()),
            "node 'conv_transpose2d' (ConvTranspose2d): output_padding [1, 1] > padding [0, 0]: the extra "
            "rows hold only the bias in torch; tfjs' Conv2DTranspose has no such output",
        ),
        "indexing": (
            lambda: (Fn(lambda s, x: x[:, 1:3]), vec()),
            "node 'getitem' (operator.getitem): indexing a tensor with (slice(None, None, None), slice(1, 3, "
            "None)) (slicing has no Keras layer here)",
        ),
    }


NAMES = [
    "gru",
    "grouped_conv",
    "depthwise_dilation",
    "reflect_pad",
    "maxpool_pad",
    "avgpool_exclude",
    "ceil_mode",
    "bilinear",
    "upsample_size",
    "lstm_time_major",
    "lstm_cell_state",
    "lstm_lower_layer_state",
    "parameter_used_directly",
    "constant_tensor",
    "unsupported_function",
    "unsupported_module",
    "data_dependent",
    "batch_mixing_view",
    "permute_batch",
    "softmax_batch",
    "divide_by_tensor",
    "cat_batch",
    "batchnorm_batch_stats",
    "embedding_max_norm",
    "conv_transpose_output_padding",
    "indexing",
]


@pytest.mark.parametrize("name", NAMES)
def test_refusal_names_the_node_and_the_reason(name, tmp_path):
    require_torch()
    from tfjs_codec import TfjsFormatError
    from tfjs_codec import torch as tct

    make, message = _refusals()[name]
    module, example = make()
    with pytest.raises(TfjsFormatError) as info:
        tct.export(tmp_path / "out", module.eval(), example)
    assert str(info.value) == message
    assert not (tmp_path / "out" / "model.json").exists()


def test_self_check_catches_an_export_that_computes_something_else(tmp_path, monkeypatch):
    require_torch()
    from export_cases import seeded, vec
    from torch import nn

    from tfjs_codec import TfjsFormatError
    from tfjs_codec import torch as tct
    from tfjs_codec.torch.exporter import ops
    from tfjs_codec.torch.registry import kind_for_torch

    kind = kind_for_torch(nn.ReLU)
    assert kind is not None and kind.class_name == "Activation"
    monkeypatch.setattr(kind, "export", lambda ex, call: ops.activation(call, "sigmoid"))  # a wrong mapping
    module = seeded(nn.Sequential(nn.Linear(6, 4), nn.ReLU()))
    with pytest.raises(TfjsFormatError) as info:
        tct.export(tmp_path / "out", module, vec())
    assert re.fullmatch(r"self-check: output 0 differs from torch's by [0-9.e+-]+ \(> [0-9.e+-]+\); the export is not exact",
                        str(info.value)), str(info.value)
    assert not (tmp_path / "out" / "model.json").exists()
    assert not [p for p in (tmp_path / "out").iterdir()]  # the check ran in a temporary directory, removed
    path = tct.export(tmp_path / "out", module, vec(), verify=False)  # verify=False writes it anyway
    assert path.is_file()


def test_gru_has_no_exact_tfjs_form(tmp_path):
    """Why nn.GRU is refused: tfjs cannot load reset_after=true, and reset_after=false computes other numbers."""
    torch = require_torch()
    node = require_node()
    from export_cases import seeded, seq_features
    from torch import nn

    import tfjs_codec as tc
    from tfjs_codec import torch as tct

    # 1. torch's GRU is Keras' reset_after=true GRU (the converter fixture): exporting that model as it is
    #    gives a model tfjs 4.22 refuses to load.
    with tc.load(FIXTURES / "tfjs_converter_layers_gru") as model:
        net = tct.to_module(model)
        record = json.loads((FIXTURES / "tfjs_converter_layers_gru" / "predict.json").read_text())
    path = tct.export(tmp_path / "reset_after", net, torch.tensor(record["input"]["data"]).reshape(record["input"]["shape"]))
    jobs = [{"dir": str(path.parent), "input": record["input"]}]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    subprocess.run([node, str(JS / "predict_many.mjs"), str(tmp_path / "jobs.json"), str(tmp_path / "out.json")],
                   check=True, timeout=120)
    assert json.loads((tmp_path / "out.json").read_text()) == [
        {"error": "GRUCell does not support reset_after parameter set to true."}
    ]
    # 2. The variant tfjs runs (reset_after=false), given the same weights, computes other numbers; the
    #    reset_after=true equations (to_module's GRU layer) reproduce torch's.
    from tfjs_codec.torch.recurrent import Recurrent

    gru = seeded(nn.GRU(4, 3, batch_first=True))
    x = seq_features()

    def keras(w: torch.Tensor) -> np.ndarray:  # torch's gate order r, z, n -> Keras' z, r, h
        return torch.cat([w[3:6], w[0:3], w[6:9]]).detach().numpy()

    kernel, recurrent = keras(gru.weight_ih_l0).T, keras(gru.weight_hh_l0).T
    biases = np.stack([keras(gru.bias_ih_l0), keras(gru.bias_hh_l0)])
    outs = {}
    for kind, bias in (("gru_after", biases), ("gru_before", biases.sum(0))):
        layer = Recurrent("gru", "GRU", kind=kind, units=3, act=torch.tanh, rec_act=torch.sigmoid, kernel=kernel,
                          recurrent=recurrent, bias=bias, return_sequences=True, go_backwards=False, dropout=False)
        with torch.no_grad():
            outs[kind] = (layer(x) - gru(x)[0]).abs().max().item()
    assert outs["gru_after"] < 1e-6
    assert outs["gru_before"] > 1e-2


def test_every_node_without_a_tfjs_layer_is_listed_at_once(tmp_path):
    """Several unsupported nodes: one error names each (op, source line), so a user fixes them all at once."""
    torch = require_torch()
    import inspect

    from torch import nn

    from tfjs_codec import TfjsFormatError
    from tfjs_codec import torch as tct

    class Spectral(nn.Module):
        def forward(self, x):
            spectrum = torch.fft.irfft(x)
            volume = torch.linalg.det(x)
            return spectrum, volume

    lines, first = inspect.getsourcelines(Spectral.forward)
    fft_line, det_line = first + 1, first + 2
    with pytest.raises(TfjsFormatError) as err:
        tct.export(tmp_path / "out", Spectral(), torch.rand(2, 3, 3))
    assert str(err.value) == (
        "module Spectral: 2 nodes have no tfjs layers equivalent: "
        f"node 'fft_irfft' (torch.fft_irfft) at test_torch_export_refusals.py:{fft_line} "
        "(spectrum = torch.fft.irfft(x)): function torch.fft_irfft; "
        f"node 'linalg_det' (torch.linalg_det) at test_torch_export_refusals.py:{det_line} "
        "(volume = torch.linalg.det(x)): function torch.linalg_det. A Keras layers model cannot express them; "
        'tfjs_codec.torch.export(..., format="graph") writes a TensorFlow.js graph model, which runs TensorFlow ops'
    )
    assert not (tmp_path / "out").exists()
