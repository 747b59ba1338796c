"""A straightforward pure-Python reading of the VLA-R1 release's reward, used as a test oracle.

Written from the release's reward definition (restated in vla_r1_ros/core/rewards.py's docstring):
plain loops, a full dynamic-programming table, no NumPy. It is deliberately slow and simple; the
package's vectorised implementation must agree with it to 1e-9, and the benchmark measures the
speed-up against it.
"""

from __future__ import annotations

import math

EPS = 1e-12


def _unit(dx: float, dy: float) -> tuple[float, float]:
    norm = math.hypot(dx, dy)
    if norm < EPS:
        return (0.0, 0.0)
    return (dx / norm, dy / norm)


def tangent(points: list[tuple[float, float]], i: int) -> tuple[float, float]:
    n = len(points)
    if n == 1:
        return (0.0, 0.0)
    if i == 0:
        return _unit(points[1][0] - points[0][0], points[1][1] - points[0][1])
    if i == n - 1:
        return _unit(points[i][0] - points[i - 1][0], points[i][1] - points[i - 1][1])
    a = _unit(points[i][0] - points[i - 1][0], points[i][1] - points[i - 1][1])
    b = _unit(points[i + 1][0] - points[i][0], points[i + 1][1] - points[i][1])
    sx, sy = a[0] + b[0], a[1] + b[1]
    norm = math.hypot(sx, sy)
    if norm < EPS:
        return a
    return (sx / norm, sy / norm)


def seg_length(points: list[tuple[float, float]], i: int) -> float:
    n = len(points)
    if n == 1:
        return 0.0
    j = i + 1 if i < n - 1 else i - 1
    return math.hypot(points[j][0] - points[i][0], points[j][1] - points[i][1])


def angle(u: tuple[float, float], v: tuple[float, float]) -> float:
    nu, nv = math.hypot(*u), math.hypot(*v)
    if nu < EPS or nv < EPS:
        return 0.0
    c = (u[0] * v[0] + u[1] * v[1]) / (nu * nv)
    return math.acos(min(1.0, max(-1.0, c)))


def frechet_table(m: int, n: int, cost) -> float:  # type: ignore[no-untyped-def]
    table = [[0.0] * n for _ in range(m)]
    for i in range(m):
        for j in range(n):
            c = cost(i, j)
            if i == 0 and j == 0:
                table[i][j] = c
            elif i == 0:
                table[i][j] = max(table[i][j - 1], c)
            elif j == 0:
                table[i][j] = max(table[i - 1][j], c)
            else:
                table[i][j] = max(min(table[i - 1][j], table[i - 1][j - 1], table[i][j - 1]), c)
    return table[m - 1][n - 1]


def oriented_frechet(
    p: list[tuple[float, float]], q: list[tuple[float, float]], lt: float = 0.25, lr: float = 0.10
) -> float:
    tp = [tangent(p, i) for i in range(len(p))]
    tq = [tangent(q, j) for j in range(len(q))]
    lp = [seg_length(p, i) for i in range(len(p))]
    lq = [seg_length(q, j) for j in range(len(q))]

    def cost(i: int, j: int) -> float:
        d = math.hypot(p[i][0] - q[j][0], p[i][1] - q[j][1])
        if lp[i] > EPS and lq[j] > EPS:
            r = abs(math.log(lp[i] / lq[j]))
        else:
            r = abs(math.log((lp[i] + EPS) / (lq[j] + EPS)))
        return d + lt * angle(tp[i], tq[j]) + lr * r

    return frechet_table(len(p), len(q), cost)


def plain_frechet(p: list[tuple[float, float]], q: list[tuple[float, float]]) -> float:
    return frechet_table(len(p), len(q), lambda i, j: math.hypot(p[i][0] - q[j][0], p[i][1] - q[j][1]))


def clip01(v: float) -> float:
    return min(1.0, max(0.0, v))


def trajectory_task_score(pred: list[list[float]], gt: list[list[float]]) -> float:
    p = [(clip01(x), clip01(y)) for x, y in gt]
    q = [(clip01(x), clip01(y)) for x, y in pred]
    denominator = math.sqrt(2.0) + 0.25 * math.pi + 0.10 * math.log(10.0)
    return 1.0 - min(1.0, oriented_frechet(p, q) / denominator)


def box_task_score(pred: dict[str, float], gt: dict[str, float]) -> float:
    def corners(b: dict[str, float]) -> tuple[float, float, float, float]:
        w, h = abs(b["width"]), abs(b["height"])
        return (clip01(b["x"] - w / 2), clip01(b["y"] - h / 2), clip01(b["x"] + w / 2), clip01(b["y"] + h / 2))

    def area(x0: float, y0: float, x1: float, y1: float) -> float:
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)

    a, b = corners(pred), corners(gt)
    inter = area(max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    union_raw = area(*a) + area(*b) - inter
    iou = inter / union_raw if union_raw > 0 else 0.0
    enclosing = area(min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])) or 1e-12
    union = max(1e-12, union_raw)
    giou = max(-1.0, min(1.0, iou - (enclosing - union) / enclosing))
    return (giou + 1.0) / 2.0
