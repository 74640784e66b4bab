"""Torch modules for the export tests: one per supported operation, and whole architectures.

Each entry is ``name -> () -> (module, example_input)``; modules are seeded, and
BatchNorm statistics are set to non-trivial values, so exports carry real numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

Case = Callable[[], tuple[nn.Module, Any]]


class Fn(nn.Module):
    """``forward = fn(self, x)``, with submodules given as keyword arguments."""

    def __init__(self, fn: Callable[..., Any], **mods: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        for k, m in mods.items():
            self.add_module(k, m)

    def forward(self, x: torch.Tensor) -> Any:
        return self.fn(self, x)


def seeded(m: nn.Module, seed: int = 0) -> nn.Module:
    """Re-initialize ``m`` from ``seed``: weights in [-0.5, 0.5], BatchNorm statistics away from 0/1."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.rand(p.shape, generator=g) - 0.5)
        for mod in m.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.running_mean is not None:
                mod.running_mean.copy_(torch.rand(mod.running_mean.shape, generator=g) - 0.5)
                mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=g) + 0.5)
    return m.eval()


def image(c: int = 3, h: int = 6, w: int = 5, n: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def seq(c: int = 3, length: int = 7, n: int = 2, seed: int = 2) -> torch.Tensor:
    return torch.randn(n, c, length, generator=torch.Generator().manual_seed(seed))


def vec(f: int = 6, n: int = 3, seed: int = 3) -> torch.Tensor:
    return torch.randn(n, f, generator=torch.Generator().manual_seed(seed))


def seq_features(t: int = 5, f: int = 4, n: int = 2, seed: int = 4) -> torch.Tensor:
    return torch.randn(n, t, f, generator=torch.Generator().manual_seed(seed))


def ids(vocab: int = 11, t: int = 6, n: int = 2, seed: int = 5) -> torch.Tensor:
    return torch.randint(0, vocab, (n, t), generator=torch.Generator().manual_seed(seed))


def _act(m: nn.Module) -> Case:
    return lambda: (seeded(nn.Sequential(nn.Linear(6, 5), m)), vec())


def _img_act(m: nn.Module) -> Case:
    return lambda: (seeded(nn.Sequential(nn.Conv2d(3, 4, 1), m)), image())


def _fn(fn: Callable[..., Any], x: Callable[[], Any], **mods: nn.Module) -> Case:
    return lambda: (seeded(Fn(fn, **mods)), x())


class ShapeBranches(nn.Module):
    """Python branching and looping on shapes (plain fx cannot trace it; the exporter retraces with the example)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 4 * 3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and x.shape[1] == 3:
            x = self.conv(x)
        for _ in range(x.size(1) // 2):  # twice
            x = torch.tanh(x)
        return self.fc(x.reshape(len(x), -1))


#: One supported operation each (with the smallest context it needs).
CATALOGUE: dict[str, Case] = {
    "linear": lambda: (seeded(nn.Linear(6, 4)), vec()),
    "linear_no_bias": lambda: (seeded(nn.Linear(6, 4, bias=False)), vec()),
    "linear_on_sequence": lambda: (seeded(nn.Linear(4, 3)), seq_features()),
    "conv1d_same": lambda: (seeded(nn.Conv1d(3, 4, 3, padding=1)), seq()),
    "conv1d_valid_dilated": lambda: (seeded(nn.Conv1d(3, 4, 3, dilation=2)), seq()),
    "conv1d_pad_stride2": lambda: (seeded(nn.Conv1d(3, 5, 3, stride=2, padding=1)), seq(length=8)),
    "conv1d_padding_same": lambda: (seeded(nn.Conv1d(3, 2, 4, padding="same")), seq()),
    "conv2d_same": lambda: (seeded(nn.Conv2d(3, 4, 3, padding=1)), image()),
    "conv2d_stride2_pad1": lambda: (seeded(nn.Conv2d(3, 4, 3, stride=2, padding=1)), image()),
    "conv2d_rect_kernel_tuple_pad": lambda: (seeded(nn.Conv2d(3, 2, (3, 2), padding=(2, 0), bias=False)), image()),
    "conv2d_dilation": lambda: (seeded(nn.Conv2d(3, 2, 3, dilation=2, padding="same")), image(h=8, w=7)),
    "conv2d_valid_stride": lambda: (seeded(nn.Conv2d(3, 5, 2, stride=(2, 1))), image()),
    "depthwise": lambda: (seeded(nn.Conv2d(3, 3, 3, padding=1, groups=3)), image()),
    "depthwise_multiplier2_stride2": lambda: (seeded(nn.Conv2d(3, 6, 3, stride=2, padding=1, groups=3)), image()),
    "conv_transpose_k2s2": lambda: (seeded(nn.ConvTranspose2d(3, 2, 2, stride=2)), image()),
    "conv_transpose_k3s2p1op1": lambda: (seeded(nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1)), image()),
    "conv_transpose_k4s2p1": lambda: (seeded(nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1)), image()),
    "conv_transpose_k3s1": lambda: (seeded(nn.ConvTranspose2d(3, 2, 3)), image()),
    "maxpool2d": lambda: (nn.MaxPool2d(2), image()),
    "maxpool2d_k3s2p1_after_relu": lambda: (seeded(nn.Sequential(nn.ReLU(), nn.MaxPool2d(3, 2, 1))), image(h=8, w=6)),
    "maxpool2d_same_equal_pad": lambda: (nn.MaxPool2d(3, 1, 1), image()),
    "maxpool1d": lambda: (nn.MaxPool1d(2), seq(length=9)),
    "avgpool2d": lambda: (nn.AvgPool2d(2, 1), image()),
    "avgpool2d_pad_include": lambda: (nn.AvgPool2d(3, 2, 1), image(h=8, w=6)),
    "avgpool2d_pad_exclude_same": lambda: (nn.AvgPool2d(3, 1, 1, count_include_pad=False), image()),
    "avgpool1d": lambda: (nn.AvgPool1d(3, 2), seq(length=9)),
    "adaptive_avgpool_1": lambda: (seeded(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))), image()),
    "adaptive_avgpool_2": lambda: (nn.AdaptiveAvgPool2d((3, 5)), image()),
    "mean_hw": _fn(lambda s, x: x.mean((2, 3)), image),
    "mean_hw_keepdim": _fn(lambda s, x: x.mean(dim=[-2, -1], keepdim=True), image),
    "mean_time": _fn(lambda s, x: torch.mean(x, dim=1), seq_features),
    "batchnorm1d": lambda: (seeded(nn.BatchNorm1d(6, eps=1e-3, momentum=0.2)), vec()),
    "batchnorm1d_on_sequence": lambda: (seeded(nn.BatchNorm1d(3)), seq()),
    "batchnorm2d": lambda: (seeded(nn.BatchNorm2d(3)), image()),
    "batchnorm2d_no_affine": lambda: (seeded(nn.BatchNorm2d(3, affine=False)), image()),
    "layernorm": lambda: (seeded(nn.LayerNorm(4, eps=1e-4)), seq_features()),
    "layernorm_two_axes": lambda: (seeded(nn.LayerNorm([5, 4])), seq_features()),
    "layernorm_no_bias": lambda: (seeded(nn.LayerNorm(6, bias=False)), vec()),
    "embedding": lambda: (seeded(nn.Embedding(11, 4)), ids()),
    "lstm_sequences": _fn(lambda s, x: s.rnn(x)[0], seq_features, rnn=nn.LSTM(4, 3, batch_first=True)),
    "lstm_last_step": _fn(lambda s, x: s.rnn(x)[0][:, -1], seq_features, rnn=nn.LSTM(4, 3, batch_first=True)),
    "lstm_2_layers_h_n": _fn(lambda s, x: s.rnn(x)[1][0][-1], seq_features, rnn=nn.LSTM(4, 3, num_layers=2, batch_first=True)),
    "rnn_relu_no_bias": _fn(lambda s, x: s.rnn(x)[1][-1], seq_features,
                            rnn=nn.RNN(4, 3, nonlinearity="relu", bias=False, batch_first=True)),
    "rnn_tanh_sequences": _fn(lambda s, x: s.rnn(x)[0], seq_features, rnn=nn.RNN(4, 3, batch_first=True)),
    "bilstm_sequences": _fn(lambda s, x: s.rnn(x)[0], seq_features, rnn=nn.LSTM(4, 3, batch_first=True, bidirectional=True)),
    "bilstm_last_step": _fn(lambda s, x: s.rnn(x)[0][:, -1], seq_features,
                            rnn=nn.LSTM(4, 3, batch_first=True, bidirectional=True)),
    "bilstm_first_step": _fn(lambda s, x: s.rnn(x)[0][:, 0, :], seq_features,
                             rnn=nn.LSTM(4, 3, batch_first=True, bidirectional=True)),
    "bilstm_final_states": _fn(lambda s, x: (lambda h: torch.cat((h[-2], h[-1]), dim=1))(s.rnn(x)[1][0]), seq_features,
                               rnn=nn.LSTM(4, 3, batch_first=True, bidirectional=True)),
    "dropout": lambda: (seeded(nn.Sequential(nn.Linear(6, 4), nn.Dropout(0.3), nn.AlphaDropout(0.1))), vec()),
    "relu": _act(nn.ReLU()),
    "relu_functional": _fn(lambda s, x: F.relu(x) + x.relu(), vec),
    "relu6": _img_act(nn.ReLU6()),
    "hardtanh_0_6": _fn(lambda s, x: F.hardtanh(x * 4, 0.0, 6.0), vec),
    "leaky_relu": _act(nn.LeakyReLU(0.2)),
    "prelu_single": _img_act(nn.PReLU()),
    "prelu_channels": lambda: (seeded(nn.Sequential(nn.Conv2d(3, 4, 1), nn.PReLU(4))), image()),
    "elu": _act(nn.ELU()),
    "elu_alpha": _act(nn.ELU(alpha=0.5)),
    "selu": _act(nn.SELU()),
    "gelu": _act(nn.GELU()),
    "gelu_tanh": _act(nn.GELU(approximate="tanh")),
    "sigmoid": _act(nn.Sigmoid()),
    "tanh": _act(nn.Tanh()),
    "softmax": _act(nn.Softmax(dim=1)),
    "softmax_channels_of_image": _img_act(nn.Softmax(dim=1)),
    "softmax_over_width": _img_act(nn.Softmax(dim=-1)),
    "log_softmax": _act(nn.LogSoftmax(dim=-1)),
    "silu": _act(nn.SiLU()),
    "mish": _act(nn.Mish()),
    "softplus": _act(nn.Softplus()),
    "softsign": _act(nn.Softsign()),
    "hardsigmoid": _act(nn.Hardsigmoid()),
    "hardswish_functional": _fn(lambda s, x: F.hardswish(x * 3) + F.hardsigmoid(x * 3), vec),
    "hardswish_on_image": _img_act(nn.Hardswish()),
    "identity": _act(nn.Identity()),
    "flatten_after_conv": lambda: (seeded(nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 3, 3))), image()),
    "zeropad2d": lambda: (nn.ZeroPad2d((1, 2, 0, 3)), image()),
    "f_pad": _fn(lambda s, x: F.pad(x, (2, 1)), seq),
    "upsample_nearest": lambda: (nn.Upsample(scale_factor=2, mode="nearest"), image()),
    "interpolate_nearest_3x2": _fn(lambda s, x: F.interpolate(x, scale_factor=(3, 2)), image),
    "residual_add": _fn(lambda s, x: s.conv(x) + x, image, conv=nn.Conv2d(3, 3, 3, padding=1)),
    "multiply_broadcast_se": _fn(
        lambda s, x: x * torch.sigmoid(s.fc(x.mean((2, 3)))).view(-1, 3, 1, 1), image, fc=nn.Linear(3, 3)
    ),
    "subtract": _fn(lambda s, x: s.a(x) - s.b(x), vec, a=nn.Linear(6, 2), b=nn.Linear(6, 2)),
    "scalar_affine": _fn(lambda s, x: (x * 0.5 + 1) / 4 - 2, vec),
    "cat_channels": _fn(lambda s, x: torch.cat([s.a(x), x], dim=1), image, a=nn.Conv2d(3, 2, 1)),
    "cat_features": _fn(lambda s, x: torch.cat((s.a(x), s.b(x)), -1), vec, a=nn.Linear(6, 2), b=nn.Linear(6, 3)),
    "same_tensor_twice": _fn(lambda s, x: torch.cat([x * x, x + x, x - x], 1) * torch.cat([x, x, x], 1), vec),
    "view_reshape": _fn(lambda s, x: s.fc(x.view(x.size(0), 2, 3).reshape(-1, 6)), vec, fc=nn.Linear(6, 2)),
    "reshape_then_conv1d": _fn(lambda s, x: s.conv(x.reshape(x.shape[0], 3, 2)), vec, conv=nn.Conv1d(3, 4, 1)),
    "permute_sequence": _fn(lambda s, x: s.fc(x.permute(0, 2, 1)), seq, fc=nn.Linear(3, 2)),
    "transpose_then_lstm": _fn(lambda s, x: s.rnn(x.transpose(1, 2))[0], seq, rnn=nn.LSTM(3, 2, batch_first=True)),
    "flatten_method_torch_flatten": _fn(lambda s, x: torch.flatten(x, 1) + x.flatten(1), image),
    "python_on_shapes": lambda: (seeded(ShapeBranches()), image()),
}


# ---------------------------------------------------------------------------
# Whole architectures


class LeNet5(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        self.layer1 = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 8, 1))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, 2), BasicBlock(16, 16, 1))
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2ish(nn.Module):
    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(inplace=True)),
            InvertedResidual(8, 8, 1, 1),
            InvertedResidual(8, 12, 2, 4),
            InvertedResidual(12, 12, 1, 4),
            InvertedResidual(12, 16, 2, 4),
            nn.Sequential(nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6(inplace=True)),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(32, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1).reshape(x.shape[0], -1)
        return self.classifier(x)


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    def __init__(self, cin: int = 3, classes: int = 2) -> None:
        super().__init__()
        self.inc = _double_conv(cin, 8)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), _double_conv(8, 16))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), _double_conv(16, 32))
        self.up1 = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.conv1 = _double_conv(32, 16)
        self.up2 = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv2 = _double_conv(16 + 8, 8)
        self.outc = nn.Conv2d(8, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        y = self.conv1(torch.cat([x2, self.up1(x3)], dim=1))
        y = self.conv2(torch.cat([x1, self.up2(y)], dim=1))
        return self.outc(y)


class MLP(nn.Module):
    def __init__(self, features: int = 8, classes: int = 3) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(features, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.1),
            nn.Linear(16, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, classes), nn.Softmax(dim=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TextClassifier(nn.Module):
    def __init__(self, vocab: int = 50, dim: int = 8, hidden: int = 6, classes: int = 3) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, batch_first=True, bidirectional=True, dropout=0.1)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(self.embedding(tokens))
        return self.fc(torch.cat((h[-2], h[-1]), dim=1))


class LastStepClassifier(TextClassifier):
    """The common text classifier: the last step of a bidirectional LSTM's sequences, ``out[:, -1, :]``."""

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embedding(tokens))
        return self.fc(out[:, -1, :])


#: name -> (module, example input).
ARCHITECTURES: dict[str, Case] = {
    "lenet5": lambda: (seeded(LeNet5()), image(1, 28, 28, n=2)),
    "resnet_basic": lambda: (seeded(ResNet()), image(3, 16, 16, n=2)),
    "mobilenetv2": lambda: (seeded(MobileNetV2ish()), image(3, 32, 32, n=2)),
    "unet": lambda: (seeded(UNet()), image(3, 16, 12, n=2)),
    "mlp_batchnorm": lambda: (seeded(MLP()), vec(8, n=4)),
    "bilstm_text": lambda: (seeded(TextClassifier()), ids(50, 9, n=3)),
    "bilstm_text_last_step": lambda: (seeded(LastStepClassifier()), ids(50, 9, n=3)),
}


class TwoInputs(nn.Module):
    """Two inputs (an image and a feature vector), two outputs (class scores and a channels-first map)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc_meta = nn.Linear(5, 4)
        self.head = nn.Linear(8, 3)

    def forward(self, image: torch.Tensor, meta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap = F.relu(self.conv(image))
        pooled = fmap.mean((2, 3))
        scores = self.head(torch.cat([pooled, torch.tanh(self.fc_meta(meta))], dim=1))
        return scores, fmap


#: name -> (case, export options): layouts at the edges, several inputs and outputs.
OPTIONS: dict[str, tuple[Case, dict[str, Any]]] = {
    "lenet5_channels_first_edges": (lambda: (seeded(LeNet5()), image(1, 28, 28, n=2)), {"channels_last": False}),
    "unet_channels_first_edges": (lambda: (seeded(UNet()), image(3, 8, 12, n=1)), {"channels_last": False}),
    "two_inputs_two_outputs": (lambda: (seeded(TwoInputs()), (image(3, 6, 5), vec(5, n=2))), {}),
    "conv1d_sequence_model": (
        lambda: (seeded(nn.Sequential(nn.Conv1d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(),
                                      nn.Linear(4 * 4, 2))), seq(3, 9)),
        {},
    ),
}
