"""Ops whose output shape depends on the data: non-max suppression, top-k, where.

Semantics are tfjs 4.22's (tfjs-converter ``dynamic_executor`` / ``evaluation_executor``,
tfjs-core ``nonMaxSuppressionImpl`` / ``nonmax_util``, tfjs-backend-cpu ``topKImpl`` /
``whereImpl``), including the order of ties:

- non-max suppression keeps candidates whose score is ``> score_threshold``, visits them by
  score, highest first, the lower box index first among equal scores; IoU and the soft-NMS
  score decay run in float64 on the float32 inputs, as the JavaScript does; ``max_output_size``
  is clamped to the number of boxes; V4 pads to it with index 0 when
  ``pad_to_max_output_size``; V5 returns (indices, scores) (tfjs has no ``valid_outputs``
  output for V5);
- top-k returns the k largest values of the last axis, the lower index first among equal
  values; with ``sorted=false`` in the order tfjs's Floyd-Rivest partition leaves them;
- ``Where`` returns the coordinates of the true (non-zero) elements in row-major order, int32.

These ops read their inputs back to the host (as tfjs does with ``await data()``); their
index outputs carry no gradient, NMS's selected scores carry none either (tfjs recomputes them
in JavaScript).
"""

from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np
import torch

from .registry import Node, register, validator
from .values import refuse_tracing, scalar

# --------------------------------------------------------------------------
# non-max suppression (tfjs-core/src/backends/non_max_suppression_impl.ts)


def _iou(boxes: np.ndarray, i: int, j: int) -> float:
    yi0, xi0, yi1, xi1 = (float(v) for v in boxes[i])
    yj0, xj0, yj1, xj1 = (float(v) for v in boxes[j])
    ymin_i, xmin_i, ymax_i, xmax_i = min(yi0, yi1), min(xi0, xi1), max(yi0, yi1), max(xi0, xi1)
    ymin_j, xmin_j, ymax_j, xmax_j = min(yj0, yj1), min(xj0, xj1), max(yj0, yj1), max(xj0, xj1)
    area_i = (ymax_i - ymin_i) * (xmax_i - xmin_i)
    area_j = (ymax_j - ymin_j) * (xmax_j - xmin_j)
    if area_i <= 0 or area_j <= 0:
        return 0.0
    inter = max(min(ymax_i, ymax_j) - max(ymin_i, ymin_j), 0.0) * max(min(xmax_i, xmax_j) - max(xmin_i, xmin_j), 0.0)
    return inter / (area_i + area_j - inter)


def non_max_suppression(
    boxes: np.ndarray,
    scores: np.ndarray,
    max_output_size: int,
    iou_threshold: float,
    score_threshold: float,
    soft_nms_sigma: float = 0.0,
    pad_to_max_output_size: bool = False,
) -> tuple[list[int], list[float], int]:
    """tfjs's ``nonMaxSuppressionImpl_`` on float32 ``boxes`` [n, 4] and ``scores`` [n].

    Args:
        boxes: box corners ``[y1, x1, y2, x2]`` (either diagonal), float32.
        scores: one score per box, float32.
        max_output_size: the most boxes to select (already clamped to n by the caller).
        iou_threshold: a candidate overlapping a selected box by IoU ``>=`` this is dropped.
        score_threshold: candidates need a score ``>`` this.
        soft_nms_sigma: > 0: Gaussian soft-NMS (scores decay instead of dropping).
        pad_to_max_output_size: pad the indices with 0 (scores with 0.0) to ``max_output_size``.

    Returns:
        (selected indices, selected scores, number of valid outputs before padding).
    """
    scale = -0.5 / soft_nms_sigma if soft_nms_sigma > 0 else 0.0
    # ascending by (score, -index): pop() gives the highest score, lowest index among ties
    cands = sorted(((float(s), -i, 0) for i, s in enumerate(scores.tolist()) if s > score_threshold), key=lambda c: (c[0], c[1]))
    keys = [(c[0], c[1]) for c in cands]
    selected: list[int] = []
    sel_scores: list[float] = []
    while len(selected) < max_output_size and cands:
        score, neg_index, begin = cands.pop()
        keys.pop()
        index = -neg_index
        original = score
        if original < score_threshold:
            break
        ignore = False
        for j in range(len(selected) - 1, begin - 1, -1):
            iou = _iou(boxes, index, selected[j])
            if iou >= iou_threshold:
                ignore = True
                break
            weight = math.exp(scale * iou * iou) if iou <= iou_threshold else 0.0
            score = score * weight
            if score <= score_threshold:
                break
        begin = len(selected)
        if not ignore:
            if score == original:
                selected.append(index)
                sel_scores.append(score)
            elif score > score_threshold:
                pos = bisect.bisect_left(keys, (score, neg_index))
                keys.insert(pos, (score, neg_index))
                cands.insert(pos, (score, neg_index, begin))
    valid = len(selected)
    if pad_to_max_output_size and max_output_size > valid:
        selected += [0] * (max_output_size - valid)
        sel_scores += [0.0] * (max_output_size - valid)
    return selected, sel_scores, valid


def _scalar(t: Any) -> float:
    return float(scalar(t))


def _nms_inputs(
    node: Node, boxes: torch.Tensor, scores: torch.Tensor, max_out: Any, iou: Any, score_thr: Any | None, sigma: Any | None = None
) -> tuple[np.ndarray, np.ndarray, int, float, float, float]:
    """The inputs as tfjs's nonMaxSuppSanityCheck leaves them; raises its errors."""
    refuse_tracing(node, "non-max suppression runs in Python on the boxes' values")
    iou_threshold = _scalar(iou)
    score_threshold = -math.inf if score_thr is None else _scalar(score_thr)
    soft_sigma = 0.0 if sigma is None else _scalar(sigma)
    if boxes.dim() != 2:
        raise node.error(f"boxes must be a 2D tensor, but was of rank '{boxes.dim()}'")
    if boxes.shape[1] != 4:
        raise node.error(f"boxes must have 4 columns, but 2nd dimension was {boxes.shape[1]}")
    if scores.dim() != 1:
        raise node.error("scores must be a 1D tensor")
    n = boxes.shape[0]
    if scores.shape[0] != n:
        raise node.error(f"scores has incompatible shape with boxes. Expected {n}, but was {scores.shape[0]}")
    if not 0 <= iou_threshold <= 1:
        raise node.error(f"iouThreshold must be in [0, 1], but was '{iou_threshold}'")
    if not 0 <= soft_sigma <= 1:
        raise node.error(f"softNmsSigma must be in [0, 1], but was '{soft_sigma}'")
    max_output_size = min(int(_scalar(max_out)), n)
    b = boxes.detach().to(torch.float32).cpu().numpy()
    s = scores.detach().to(torch.float32).cpu().numpy()
    return b, s, max_output_size, iou_threshold, score_threshold, soft_sigma


@register("NonMaxSuppressionV2", "NonMaxSuppressionV3", static=(2, 3, 4))
def non_max_suppression_v3(
    node: Node, boxes: torch.Tensor, scores: torch.Tensor, max_out: Any, iou: Any, score_thr: Any = None
) -> torch.Tensor:
    """Selected box indices (int32 [k])."""
    b, s, m, it, st, _ = _nms_inputs(node, boxes, scores, max_out, iou, score_thr)
    idx, _, _ = non_max_suppression(b, s, m, it, st)
    return torch.tensor(idx, dtype=torch.int32, device=boxes.device)


@register("NonMaxSuppressionV4", static=(2, 3, 4))
def non_max_suppression_v4(
    node: Node, boxes: torch.Tensor, scores: torch.Tensor, max_out: Any, iou: Any, score_thr: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """(selected indices int32 [k or max_output_size], number of valid outputs int32 scalar)."""
    b, s, m, it, st, _ = _nms_inputs(node, boxes, scores, max_out, iou, score_thr)
    idx, _, valid = non_max_suppression(b, s, m, it, st, pad_to_max_output_size=bool(node.attr("pad_to_max_output_size", False)))
    return torch.tensor(idx, dtype=torch.int32, device=boxes.device), torch.tensor(valid, dtype=torch.int32, device=boxes.device)


@register("NonMaxSuppressionV5", static=(2, 3, 4, 5))
def non_max_suppression_v5(
    node: Node, boxes: torch.Tensor, scores: torch.Tensor, max_out: Any, iou: Any, score_thr: Any, sigma: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """(selected indices int32 [k], their scores float32 [k] after soft-NMS decay).

    tfjs ignores ``pad_to_max_output_size`` for V5 and has no third (``valid_outputs``) output.
    """
    b, s, m, it, st, sg = _nms_inputs(node, boxes, scores, max_out, iou, score_thr, sigma)
    idx, sc, _ = non_max_suppression(b, s, m, it, st, sg)
    return (
        torch.tensor(idx, dtype=torch.int32, device=boxes.device),
        torch.tensor(np.asarray(sc, dtype=np.float64).astype(np.float32), device=boxes.device),
    )


# --------------------------------------------------------------------------
# top-k (tfjs-backend-cpu/src/kernels/TopK_impl.ts)


def _floyd_rivest_select(vals: list[float], idxs: list[int], k: int, left: int, right: int) -> None:
    """tfjs's ``select``: partition (value desc, index asc) pairs so that position k holds the
    (k+1)-th of that order, smaller ones before it. In place, on parallel lists."""

    def cmp(a: int, b: int) -> float:  # comparePair(array[a], array[b])
        d = vals[b] - vals[a]
        return (idxs[a] - idxs[b]) if d == 0 else d

    def cmp_t(a: int, tv: float, ti: int) -> float:
        d = tv - vals[a]
        return (idxs[a] - ti) if d == 0 else d

    def swap(a: int, b: int) -> None:
        vals[a], vals[b] = vals[b], vals[a]
        idxs[a], idxs[b] = idxs[b], idxs[a]

    while right > left:
        if right - left > 600:
            n = right - left + 1
            i = k - left + 1
            z = math.log(n)
            s = 0.5 * math.exp(2 * z / 3)
            sd = 0.5 * math.sqrt(z * s * (n - s) / n) * (1 if i - n / 2 > 0 else -1 if i - n / 2 < 0 else 0)
            new_left = max(left, math.floor(k - i * s / n + sd))
            new_right = min(right, math.floor(k + (n - i) * s / n + sd))
            _floyd_rivest_select(vals, idxs, k, new_left, new_right)
        tv, ti = vals[k], idxs[k]
        i, j = left, right
        swap(left, k)
        if cmp_t(right, tv, ti) > 0:
            swap(left, right)
        while i < j:
            swap(i, j)
            i += 1
            j -= 1
            while cmp_t(i, tv, ti) < 0:
                i += 1
            while cmp_t(j, tv, ti) > 0:
                j -= 1
        if cmp_t(left, tv, ti) == 0:
            swap(left, j)
        else:
            j += 1
            swap(j, right)
        if j <= k:
            left = j + 1
        if k <= j:
            right = j - 1


@register("TopKV2", static=(1,))
def top_k(node: Node, x: torch.Tensor, k: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, int32 indices) of the k largest entries along the last axis."""
    if isinstance(k, torch.Tensor):
        refuse_tracing(node, "k is a tensor computed at run time (the output's size would depend on its value)")
    kk = int(_scalar(k))
    if x.dim() < 1:
        raise node.error("topk() expects the input to be of rank 1 or higher, but got 0")
    last = x.shape[-1]
    if kk < 0:
        raise node.error(f"'k' passed to topk() must be >= 0 but got {kk}")
    if kk > last:
        raise node.error(f"'k' passed to topk() must be <= the last dimension ({last}) but got {kk}")
    if bool(node.attr("sorted", True)):
        order = torch.sort(x.detach(), dim=-1, descending=True, stable=True).indices[..., :kk]
    else:
        refuse_tracing(node, "sorted=false selects in Python on the values (tfjs' order of unsorted results)")
        rows = x.detach().reshape(-1, last).cpu()
        out = []
        for row in rows.tolist():
            vals, idxs = list(row), list(range(last))
            if kk < last:
                _floyd_rivest_select(vals, idxs, kk, 0, last - 1)
            out.append(idxs[:kk])
        order = torch.tensor(out, dtype=torch.int64).reshape(*x.shape[:-1], kk).to(x.device)
    return torch.gather(x, -1, order), order.to(torch.int32)


# --------------------------------------------------------------------------
# where


@register("Where")
def where(node: Node, condition: torch.Tensor) -> torch.Tensor:
    """Coordinates of the true elements, int32 [n, rank], row-major order."""
    return torch.nonzero(condition.to(torch.bool)).to(torch.int32)


@validator("NonMaxSuppressionV2", "NonMaxSuppressionV3", "NonMaxSuppressionV4", "NonMaxSuppressionV5")
def _nms_inputs_count(node: Node) -> str | None:
    need = {"NonMaxSuppressionV2": 4, "NonMaxSuppressionV3": 5, "NonMaxSuppressionV4": 5, "NonMaxSuppressionV5": 6}[node.op]
    if len(node.inputs) < need:
        return f"has {len(node.inputs)} inputs, needs {need}"
    return None
