"""Torch models for the graph-model export tests (``tct.export(..., format="graph")``).

``ZOO``: name -> () -> (module, example inputs as a tuple, another batch's inputs as a tuple).
Whole architectures a user brings (ViT, MobileNetV3, EfficientNet, ResNeXt, a YOLO-style head,
a U-Net, RNN text classifiers, a CRNN, a causal character transformer, two inputs, two outputs);
``OPS``: small modules for one operation each. Modules are seeded; BatchNorm statistics are
moved away from 0 / 1 so exports carry real numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

Case = Callable[[], tuple[nn.Module, tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]]


def seeded(m: nn.Module, seed: int = 0) -> nn.Module:
    """``m`` with torch's default initialization drawn from ``seed`` and BatchNorm statistics set."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_((torch.rand(p.shape, generator=g) - 0.5) * (2.0 / max(1, p.shape[-1] if p.dim() > 1 else 4)) ** 0.5)
        for mod in m.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.running_mean is not None:
                mod.running_mean.copy_(torch.rand(mod.running_mean.shape, generator=g) * 0.2 - 0.1)
                mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=g) + 0.5)
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=g) + 0.5)
            if isinstance(mod, (nn.LayerNorm, nn.GroupNorm)) and mod.weight is not None:
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=g) + 0.5)
    return m.eval()


def randn(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def randint(hi: int, *shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, hi, shape, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- building blocks


def conv_bn(cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, r: int = 4, gate: type[nn.Module] = nn.Sigmoid) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.fc2 = nn.Conv2d(c // r, c, 1)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.gate(self.fc2(F.relu(self.fc1(self.pool(x)))))
        return x * s


class InvertedResidual(nn.Module):
    """MobileNetV3 / EfficientNet block: expand 1x1, depthwise kxk, SE, project 1x1, residual."""

    def __init__(self, cin: int, cout: int, k: int, s: int, expand: int, act: type[nn.Module], gate: type[nn.Module]) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = conv_bn(cin, mid, 1, act=act)
        self.dw = conv_bn(mid, mid, k, s, groups=mid, act=act)
        self.se = SqueezeExcite(mid, 4, gate)
        self.project = conv_bn(mid, cout, 1, act=None)
        self.residual = s == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.se(self.dw(self.expand(x))))
        return x + y if self.residual else y


class MobileNetV3Like(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = conv_bn(3, 8, 3, 2, act=nn.Hardswish)
        self.blocks = nn.Sequential(
            InvertedResidual(8, 8, 3, 1, 2, nn.ReLU, nn.Hardsigmoid),
            InvertedResidual(8, 12, 5, 2, 3, nn.Hardswish, nn.Hardsigmoid),
            InvertedResidual(12, 12, 3, 1, 2, nn.Hardswish, nn.Hardsigmoid),
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 16), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(16, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


class EfficientNetLike(nn.Module):
    def __init__(self, classes: int = 7) -> None:
        super().__init__()
        self.stem = conv_bn(3, 8, 3, 2, act=nn.SiLU)
        self.blocks = nn.Sequential(
            InvertedResidual(8, 8, 3, 1, 1, nn.SiLU, nn.Sigmoid),
            InvertedResidual(8, 16, 5, 2, 4, nn.SiLU, nn.Sigmoid),
            InvertedResidual(16, 16, 5, 1, 4, nn.SiLU, nn.Sigmoid),
        )
        self.top = conv_bn(16, 24, 1, act=nn.SiLU)
        self.fc = nn.Linear(24, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.top(self.blocks(self.stem(x)))
        return torch.softmax(self.fc(y.mean((2, 3))), dim=1)


class ResNeXtBlock(nn.Module):
    def __init__(self, c: int = 16, groups: int = 4) -> None:
        super().__init__()
        self.reduce = conv_bn(c, c, 1)
        self.grouped = conv_bn(c, c, 3, groups=groups)
        self.grow = conv_bn(c, 2 * c, 1, act=None)
        self.shortcut = conv_bn(c, 2 * c, 1, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.grow(self.grouped(self.reduce(x))) + self.shortcut(x))


class YoloHead(nn.Module):
    """Backbone at strides 2/4/8, one detection conv per scale, boxes decoded against grids made in forward."""

    def __init__(self, classes: int = 3, anchors: int = 2) -> None:
        super().__init__()
        self.na, self.no = anchors, classes + 5
        self.s1 = conv_bn(3, 8, 3, 2, act=nn.SiLU)
        self.s2 = conv_bn(8, 16, 3, 2, act=nn.SiLU)
        self.s3 = conv_bn(16, 16, 3, 2, act=nn.SiLU)
        self.det = nn.ModuleList(nn.Conv2d(c, anchors * self.no, 1) for c in (8, 16, 16))
        self.register_buffer("anchor_wh", torch.tensor([[1.0, 1.5], [2.0, 1.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.s1(x)
        f2 = self.s2(f1)
        f3 = self.s3(f2)
        outs = []
        for i, (f, conv) in enumerate(zip((f1, f2, f3), self.det, strict=True)):
            p = conv(f)
            b, _, h, w = p.shape
            p = p.view(b, self.na, self.no, h, w).permute(0, 1, 3, 4, 2).sigmoid()
            yv, xv = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            grid = torch.stack((xv, yv), 2).view(1, 1, h, w, 2).float()
            stride = 2 ** (i + 1)
            xy = (p[..., 0:2] * 2 - 0.5 + grid) * stride
            wh = (p[..., 2:4] * 2) ** 2 * self.anchor_wh.view(1, self.na, 1, 1, 2) * stride
            outs.append(torch.cat((xy, wh, p[..., 4:]), -1).reshape(b, -1, self.no))
        return torch.cat(outs, 1)


class UNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.d1 = nn.Sequential(conv_bn(3, 8), conv_bn(8, 8))
        self.d2 = nn.Sequential(conv_bn(8, 16), conv_bn(16, 16))
        self.mid = conv_bn(16, 16)
        self.u2 = conv_bn(32, 8)
        self.u1 = conv_bn(16, 8)
        self.out = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.d1(x)
        b = self.d2(F.max_pool2d(a, 2))
        m = self.mid(F.max_pool2d(b, 2))
        up = F.interpolate(m, scale_factor=2, mode="bilinear", align_corners=False)
        y = self.u2(torch.cat([up, b], 1))
        up = F.interpolate(y, size=a.shape[2:], mode="bilinear", align_corners=True)
        return self.out(self.u1(torch.cat([up, a], 1)))


class GRUText(nn.Module):
    def __init__(self, vocab: int = 20, classes: int = 4) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, 8)
        self.rnn = nn.GRU(8, 12, batch_first=True)
        self.fc = nn.Linear(12, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.emb(ids))
        return self.fc(out[:, -1])


class BiLSTMText(nn.Module):
    def __init__(self, vocab: int = 20, classes: int = 3) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, 8)
        self.rnn = nn.LSTM(8, 10, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(20, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.emb(ids))
        return self.fc(out[:, -1, :])


class CRNN(nn.Module):
    def __init__(self, classes: int = 11) -> None:
        super().__init__()
        self.cnn = nn.Sequential(conv_bn(1, 8), nn.MaxPool2d(2), conv_bn(8, 16), nn.MaxPool2d((2, 1)))
        self.rnn = nn.GRU(16 * 4, 16, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.cnn(x)  # (N, 16, 4, W/2)
        b, c, h, w = f.shape
        seq = f.permute(0, 3, 1, 2).reshape(b, w, c * h)
        out, _ = self.rnn(seq)
        return F.log_softmax(self.fc(out), dim=2)


class CharTransformer(nn.Module):
    def __init__(self, vocab: int = 16, d: int = 16, length: int = 8) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(length, d)
        self.block = nn.TransformerEncoderLayer(d, 2, 32, dropout=0.0, batch_first=True, norm_first=True, activation="gelu")
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        h = self.tok(ids) + self.pos(torch.arange(t))
        mask = nn.Transformer.generate_square_subsequent_mask(t)
        h = self.block(h, src_mask=mask, is_causal=True)
        return self.head(self.norm(h))


class SmallViT(nn.Module):
    def __init__(self, classes: int = 5, d: int = 16) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, d, 4, 4)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.zeros(1, 17, d))
        layer = nn.TransformerEncoderLayer(d, 4, 32, dropout=0.0, batch_first=True, norm_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch(x).flatten(2).transpose(1, 2)
        cls = self.cls.expand(p.shape[0], -1, -1)
        h = torch.cat([cls, p], 1) + self.pos
        h = self.encoder(h)
        return self.head(self.norm(h[:, 0]))


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = conv_bn(3, 8, 3, 2)
        self.side = nn.Linear(4, 8)
        self.fc = nn.Linear(16, 3)

    def forward(self, image: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:
        a = self.conv(image).amax(dim=(2, 3))
        return self.fc(torch.cat([a, torch.tanh(self.side(meta))], 1))


class TwoOutputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(3, 8), conv_bn(8, 8, 3, 2))
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(x)
        return self.fc(f.mean((2, 3))), f


def _case(
    build: Callable[[], nn.Module], make: Callable[[int], tuple[torch.Tensor, ...]], batch: int = 2, other: int = 3
) -> Case:
    return lambda: (seeded(build()), make(batch), make(other))


def _img(c: int, h: int, w: int) -> Callable[[int], tuple[torch.Tensor, ...]]:
    return lambda n: (randn(n, c, h, w, seed=n),)


def _ids(vocab: int, t: int) -> Callable[[int], tuple[torch.Tensor, ...]]:
    return lambda n: (randint(vocab, n, t, seed=n),)


ZOO: dict[str, Case] = {
    "vit": _case(SmallViT, _img(3, 16, 16)),
    "mobilenetv3": _case(MobileNetV3Like, _img(3, 24, 24)),
    "efficientnet": _case(EfficientNetLike, _img(3, 20, 20)),
    "resnext_block": _case(ResNeXtBlock, _img(16, 8, 8)),
    "yolo_head": _case(YoloHead, _img(3, 32, 32)),
    "unet": _case(UNet, _img(3, 16, 16)),
    "gru_text": _case(GRUText, _ids(20, 7)),
    "bilstm_text": _case(BiLSTMText, _ids(20, 6)),
    "crnn": _case(CRNN, _img(1, 16, 24)),
    "char_transformer": _case(CharTransformer, _ids(16, 8)),
    "two_inputs": _case(TwoInputs, lambda n: (randn(n, 3, 8, 8, seed=n), randn(n, 4, seed=n + 10))),
    "two_outputs": _case(TwoOutputs, _img(3, 8, 8)),
}


class Fn(nn.Module):
    """``forward = fn(self, x)``, with submodules given as keyword arguments."""

    def __init__(self, fn: Callable[..., Any], **mods: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        for k, m in mods.items():
            self.add_module(k, m)

    def forward(self, x: torch.Tensor) -> Any:
        return self.fn(self, x)


def _op(fn: Callable[..., Any], make: Callable[[int], tuple[torch.Tensor, ...]], **mods: nn.Module) -> Case:
    return lambda: (seeded(Fn(fn, **mods)), make(2), make(3))


_vec = lambda f: lambda n: (randn(n, f, seed=n),)  # noqa: E731
_seq = lambda t, f: lambda n: (randn(n, t, f, seed=n),)  # noqa: E731

OPS: dict[str, Case] = {
    "conv_dilated_strided": _op(lambda s, x: s.c(x), _img(3, 11, 9), c=nn.Conv2d(3, 4, 3, 2, 2, dilation=2)),
    "conv_depth_multiplier": _op(lambda s, x: s.c(x), _img(3, 8, 8), c=nn.Conv2d(3, 6, 3, 1, 1, groups=3)),
    "conv_depthwise_dilated": _op(lambda s, x: s.c(x), _img(4, 9, 9), c=nn.Conv2d(4, 4, 3, 2, 2, dilation=2, groups=4)),
    "conv_grouped_padded": _op(lambda s, x: s.c(x), _img(4, 7, 6), c=nn.Conv2d(4, 6, (3, 2), (2, 1), (2, 1), groups=2)),
    "conv_transpose": _op(lambda s, x: s.c(x), _img(4, 5, 6), c=nn.ConvTranspose2d(4, 3, 3, 2, 1, output_padding=1)),
    "conv1d": _op(lambda s, x: s.c(x), lambda n: (randn(n, 4, 12, seed=n),), c=nn.Conv1d(4, 6, 3, 2, 1)),
    "pixel_shuffle": _op(lambda s, x: F.pixel_shuffle(s.c(x), 2), _img(3, 4, 5), c=nn.Conv2d(3, 8, 1)),
    "pools": _op(lambda s, x: F.max_pool2d(x, 3, 2, 1) + F.avg_pool2d(x, 3, 2, 1), _img(3, 9, 8)),
    "pools_ceil": _op(
        lambda s, x: torch.cat(
            [F.max_pool2d(x, 2, ceil_mode=True).flatten(1), F.avg_pool2d(x, 3, 2, 1, count_include_pad=False).flatten(1)], 1
        ),
        _img(3, 7, 5),
    ),
    "adaptive_pool": _op(lambda s, x: F.adaptive_avg_pool2d(x, (2, 3)) * F.adaptive_max_pool2d(x, (2, 3)), _img(3, 8, 9)),
    "pads": _op(
        lambda s, x: (
            F.pad(x, (1, 2, 0, 1), mode="reflect") + F.pad(x, (1, 2, 0, 1), mode="replicate") + F.pad(x, (1, 2, 0, 1), value=0.5)
        ),
        _img(3, 6, 5),
    ),
    "resize_nearest": _op(lambda s, x: F.interpolate(x, scale_factor=2, mode="nearest"), _img(3, 4, 5)),
    "activations": _op(
        lambda s, x: torch.cat(
            [
                F.gelu(x),
                F.gelu(x, approximate="tanh"),
                F.silu(x),
                F.mish(x),
                F.hardswish(x),
                F.hardsigmoid(x),
                F.elu(x),
                F.selu(x),
                F.leaky_relu(x, 0.1),
                s.prelu(x),
                F.softplus(x),
                F.relu6(x * 4),
                torch.tanh(x),
                F.hardtanh(x),
            ],
            1,
        ),
        _vec(5),
        prelu=nn.PReLU(5),
    ),
    "norms": _op(
        lambda s, x: s.gn(x) + s.inorm(x) + s.ln(x),
        _img(4, 5, 6),
        gn=nn.GroupNorm(2, 4),
        inorm=nn.InstanceNorm2d(4, affine=True),
        ln=nn.LayerNorm([4, 5, 6]),
    ),
    "slicing": _op(lambda s, x: torch.cat([x[:, 1:-1:2], x[:, ::3], x[:, -3:]], 1) * x[:, 2:3], _vec(9)),
    "gather_index": _op(lambda s, x: x[:, torch.tensor([2, 0, 1, 1])] + x.index_select(1, torch.tensor([3, 3, 0, 1])), _vec(5)),
    "split_unbind": _op(
        lambda s, x: sum(a.sum(1, keepdim=True) for a in x.split([1, 3, 2], 1)) * torch.stack(x.unbind(1)[::2], 1), _vec(6)
    ),
    "reductions": _op(
        lambda s, x: torch.stack([x.std(1), x.var(1, unbiased=False), x.amax(1), x.amin(1), x.prod(1), x.sum(1)], 1), _vec(6)
    ),
    "argmax_int": _op(lambda s, x: x.argmax(1), _vec(6)),
    "cumsum_where": _op(lambda s, x: torch.where(x > 0, x.cumsum(1), x.clamp(-0.5, 0.2)).masked_fill(x < -1, 3.0), _vec(6)),
    "topk_sort": _op(
        lambda s, x: torch.cat([x.topk(3, 1).values, x.sort(1, descending=True).values, x.sort(1).values], 1), _vec(6)
    ),
    "softmax_dims": _op(lambda s, x: torch.softmax(x, 1) + torch.log_softmax(x, 2), _seq(3, 4)),
    "matmul_bmm_einsum": _op(lambda s, x: torch.einsum("bij,bkj->bik", x, x) + x @ x.transpose(1, 2), _seq(3, 4)),
    "repeat_expand": _op(lambda s, x: x.repeat(1, 2, 1) + x.unsqueeze(2).expand(-1, -1, 2, -1).flatten(1, 2), _seq(3, 4)),
    "max_min_dim": _op(
        lambda s, x: torch.cat(
            [
                torch.max(x, 1).values[:, None],
                torch.min(x, 1, keepdim=True)[0],
                x.max(1).indices[:, None].float(),
                F.normalize(x, dim=1),
                torch.std_mean(x, 1)[1][:, None],
                x[:, torch.tensor([-1, 0])],
            ],
            1,
        ),
        _vec(6),
    ),
    "gather_argsort": _op(lambda s, x: x.gather(1, x.argsort(1, descending=True)[:, :3]), _vec(6)),
    "lstm_seq_first": _op(lambda s, x: s.rnn(x.transpose(0, 1))[0].transpose(0, 1)[:, -1], _seq(5, 4), rnn=nn.LSTM(4, 6, 2)),
    "fft": _op(
        lambda s, x: torch.cat(
            [
                torch.fft.rfft(x).abs(),
                torch.fft.irfft(torch.fft.rfft(x, norm="ortho") * s.w.weight[0], norm="ortho"),
                torch.view_as_real(torch.fft.rfft(x, dim=1)).flatten(1),
            ],
            1,
        ),
        _vec(8),
        w=nn.Linear(5, 1),
    ),
    "sdpa": _op(lambda s, x: F.scaled_dot_product_attention(x, x, x, is_causal=True), _seq(5, 4)),
    "mha": _op(lambda s, x: s.mha(x, x, x, need_weights=False)[0], _seq(5, 8), mha=nn.MultiheadAttention(8, 2, batch_first=True)),
}
