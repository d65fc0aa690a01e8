"""Drawing of the generated datasets' images and masks (:mod:`pmgsam.data.synthetic` writes them).

Every function draws from the ``numpy`` generator it is given, in a fixed order, so a seed gives
the same pictures. Salient (DIS) objects are several parts with holes, thin wires and sometimes a
fence, textured to contrast with a textured background; camouflaged objects are 1-3 blob
instances whose texture and colour follow the background.
"""

from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np


def image_hw(rng: np.random.Generator, size: Tuple[int, int]) -> Tuple[int, int]:
    """(height, width) of an image about ``size`` (width, height): same area, aspect jittered."""
    base_w, base_h = size
    aspect = (base_w / base_h) * float(np.exp(rng.uniform(-0.45, 0.45)))
    area = base_w * base_h
    w = max(24, int(round(np.sqrt(area * aspect))))
    h = max(24, int(round(area / w)))
    return h, w


def _hsv_colour(hue: float, sat: float, val: float) -> np.ndarray:
    hsv = np.uint8([[[int(hue) % 180, int(np.clip(sat, 0, 255)), int(np.clip(val, 0, 255))]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _texture(
    rng: np.random.Generator, h: int, w: int, c0: np.ndarray, c1: np.ndarray
) -> np.ndarray:
    """Smooth noise + an oriented grating, mapped between two colours; (h, w, 3) float32."""
    t = np.zeros((h, w), np.float32)
    for cell, amp in ((int(rng.integers(24, 64)), 1.0), (int(rng.integers(4, 10)), 0.5)):
        grid = rng.random((h // cell + 2, w // cell + 2)).astype(np.float32)
        t += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    theta, period = rng.uniform(0, np.pi), rng.uniform(6, 30)
    yy, xx = np.ogrid[:h, :w]
    phase = (xx * np.cos(theta) + yy * np.sin(theta)) * (2 * np.pi / period) + rng.uniform(0, 6.3)
    t += 0.4 * np.sin(phase).astype(np.float32)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = c0 + t[:, :, None] * (c1 - c0)
    return img + rng.normal(0, 3.0, (h, w, 3)).astype(np.float32)


def _blob(rng: np.random.Generator, cx: float, cy: float, radius: float) -> np.ndarray:
    """Smooth random star-shaped polygon (int32 points) around (cx, cy)."""
    theta = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    r = np.ones_like(theta)
    for k in (2, 3, 5):
        r += rng.uniform(0, 0.35 / k * 2) * np.sin(k * theta + rng.uniform(0, 6.3))
    r = radius * np.clip(r, 0.35, None)
    pts = np.stack([cx + r * np.cos(theta), cy + r * np.sin(theta)], axis=1)
    return np.round(pts).astype(np.int32)


def _curve(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth polyline through four random control points (for wires)."""
    n_ctrl = 4
    ctrl = np.stack([rng.uniform(0, w, n_ctrl), rng.uniform(0, h, n_ctrl)], axis=1)
    s = np.linspace(0, n_ctrl - 1, 60)
    xs = np.interp(s, np.arange(n_ctrl), ctrl[:, 0])
    ys = np.interp(s, np.arange(n_ctrl), ctrl[:, 1])
    return np.round(np.stack([xs, ys], axis=1)).astype(np.int32)


def dis_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Several parts with holes, thin wires and sometimes a fence-like grid; {0, 1} uint8."""
    m = np.zeros((h, w), np.uint8)
    side = min(h, w)
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        radius = rng.uniform(0.1, 0.22) * side
        if rng.random() < 0.5:
            axes = (int(radius), int(radius * rng.uniform(0.5, 1.0)))
            cv2.ellipse(m, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, 1, -1)
        else:
            cv2.fillPoly(m, [_blob(rng, cx, cy, radius)], 1)
        for _ in range(int(rng.integers(0, 3))):
            hole_r = max(2, int(radius * rng.uniform(0.15, 0.35)))
            off = rng.uniform(-0.4, 0.4, 2) * radius
            cv2.circle(m, (int(cx + off[0]), int(cy + off[1])), hole_r, 0, -1)
    for _ in range(int(rng.integers(1, 5))):
        cv2.polylines(m, [_curve(rng, h, w)], False, 1, int(rng.integers(1, 3)))
    if rng.random() < 0.4:
        x0, y0 = int(rng.uniform(0, 0.5) * w), int(rng.uniform(0, 0.5) * h)
        x1, y1 = x0 + int(0.4 * w), y0 + int(0.4 * h)
        step = int(rng.integers(5, 10))
        for x in range(x0, x1, step):
            cv2.line(m, (x, y0), (x, y1), 1, 1)
        cv2.line(m, (x0, y0), (x1, y0), 1, 2)
    return m


def _instances(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Label map with 1-3 blob instances (mostly non-overlapping), labels 1..k, int32."""
    label = np.zeros((h, w), np.int32)
    side = min(h, w)
    k = 0
    for _ in range(int(rng.integers(1, 4))):
        for _attempt in range(10):
            blob = np.zeros((h, w), np.uint8)
            r = rng.uniform(0.1, 0.22) * side
            cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
            cv2.fillPoly(blob, [_blob(rng, cx, cy, r)], 1)
            if not (label[blob > 0] > 0).any():
                break
        k += 1
        label[blob > 0] = k
    # An occluded instance may vanish or shrink to a sliver: relabel the survivors 1..n.
    areas = [int((label == v).sum()) for v in range(1, k + 1)]
    # Blobs of a small image (--size 24x24) may all be under the floor: the largest is kept,
    # a camouflaged image always holds an object.
    floor = min(30, max(areas))
    out = np.zeros_like(label)
    n = 0
    for v, area in enumerate(areas, 1):
        if area >= floor:
            n += 1
            out[label == v] = n
    return out


def render(rng: np.random.Generator, h: int, w: int, fg: np.ndarray, camo: bool) -> np.ndarray:
    """RGB uint8 image: a textured background, and where ``fg`` is 1 a textured object in a
    contrasting colour or, with ``camo``, in the background's palette with soft edges."""
    hue, sat, val = rng.uniform(0, 180), rng.uniform(60, 200), rng.uniform(90, 200)
    c0, c1 = _hsv_colour(hue, sat, val - 60), _hsv_colour(hue + 15, sat, val + 40)
    bg = _texture(rng, h, w, c0, c1)
    if camo:
        # Same palette with a slight shift: the object is visible only through its texture seams.
        shift = rng.uniform(-12, 12, 3).astype(np.float32)
        obj = _texture(rng, h, w, c0 + shift, c1 + shift)
        alpha = cv2.GaussianBlur(fg.astype(np.float32), (5, 5), 0)[:, :, None]
    else:
        ohue = hue + rng.uniform(50, 130)
        oval = 255 - val if rng.random() < 0.5 else val
        d0, d1 = _hsv_colour(ohue, 180, oval - 50), _hsv_colour(ohue + 10, 220, oval + 50)
        obj = _texture(rng, h, w, d0, d1)
        alpha = fg.astype(np.float32)[:, :, None]
    img = bg * (1 - alpha) + obj * alpha
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def camo_image(
    rng: np.random.Generator, size: Tuple[int, int]
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A camouflage scene: instance labels (int32, 1..n), their union ({0, 1} uint8), the image."""
    h, w = image_hw(rng, size)
    label = _instances(rng, h, w)
    union = (label > 0).astype(np.uint8)
    return label, union, render(rng, h, w, union, camo=True)
