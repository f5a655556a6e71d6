"""Is a fitted object what the model knows? A score for each pose-free fit.

A model of chairs fits a chair shape to anything: a table's legs, a desk with its clutter, a wall's
corner. Such a fit gives itself away three ways, each measured here in metres in the camera frame:

- it leaves many of the segment's points unexplained (farther than ``NEAR`` from its surface, or three of
  the sensor's noise sigmas at that depth where that is more: ``segment.noise_threshold``);
- it pushes its surface into space the sensor saw through (in front of the observed depth by more than
  ``IN_FRONT``, or three sigmas: a free-space violation);
- it needs a size no object of the category has (``HEIGHT``, floor to top).

Each is divided by its limit (``LIMITS``, set from the model's own fits of held-out chairs in rendered
scenes, ``evaluate --experiments scenes``) and the score is the largest: over 1, the object is reported as not
what the model knows. The limits are the model's, not a frame's.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import igl
import numpy as np
import trimesh

from .scan import Camera
from .segment import noise_threshold

NEAR, IN_FRONT = 0.03, 0.03  # m
HEIGHT = (0.55, 1.35)  # m, floor to top: seating from a low stool to a wingback (a model of chairs)
# Limits of the two shares: twice the largest among the default model's pose-free fits of 7 held-out chairs
# in rendered scenes with Kinect-like noise (unexplained 0.02-0.62 %, seen through 0.3-14.8 %: a leg or a
# back a little off), and no less than 10 % (a real segment also holds a strip of floor or wall, and the
# parts a synthetic chair never has). ``evaluate --experiments scenes`` reports the three per fit.
LIMITS = {"unexplained": 0.10, "free_space": 0.30}


@dataclass
class FitCheck:
    unexplained: float  # share of the segment's points farther than NEAR (or 3 noise sigmas) from the fitted surface
    free_space: float  # share of the fitted surface in front of the observed depth by more than IN_FRONT (or 3 sigmas)
    height: float  # m, from the floor to the fitted object's top (NaN without a floor)
    score: float  # the largest of the three over its limit: over 1, not what the model knows

    @property
    def known(self) -> bool:
        return self.score <= 1.0

    def row(self) -> dict:
        return {**asdict(self), "known": self.known}


def check_fit(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, depth_points: np.ndarray, camera: Camera,
              up: np.ndarray | None, offset: float | None) -> FitCheck:
    """Score a fitted mesh (camera frame) against its segment's ``points`` and the scan's back-projected
    ``depth_points`` (H, W, 3; NaN where no depth). ``up``, ``offset``: the floor (None: no floor found)."""
    if not len(faces):
        return FitCheck(1.0, 0.0, float("nan"), float("inf"))
    V, F = np.ascontiguousarray(vertices, dtype=np.float64), np.ascontiguousarray(faces, dtype=np.int64)
    P = points[np.isfinite(points).all(1)]
    if len(P) > 20_000:
        P = P[np.random.default_rng(0).choice(len(P), 20_000, replace=False)]
    sq, _, _ = igl.point_mesh_squared_distance(np.ascontiguousarray(P, dtype=np.float64), V, F)
    unexplained = float(np.mean(np.sqrt(sq) > np.maximum(NEAR, noise_threshold(P[:, 2])))) if len(P) else 1.0
    surface = trimesh.Trimesh(V, F, process=False).sample(5000, seed=0)  # spread by area, not by vertex
    free_space = seen_through(surface, depth_points, camera)
    height = float((V @ up).max() + offset) if up is not None else float("nan")
    parts = [unexplained / LIMITS["unexplained"], free_space / LIMITS["free_space"]]
    if np.isfinite(height):
        parts.append(max(HEIGHT[0] / max(height, 1e-6), height / HEIGHT[1]))
    return FitCheck(unexplained, free_space, height, float(max(parts)))


def seen_through(surface: np.ndarray, depth_points: np.ndarray, camera: Camera) -> float:
    """Share of surface points (camera frame) that lie in front of the observed depth by more than
    ``IN_FRONT`` (or three noise sigmas) at their pixel and at its eight neighbours (the nearest of the nine is taken: a point on
    the fit's outline, one pixel off the object onto the wall behind, is no violation)."""
    from scipy.ndimage import minimum_filter

    uv, s = camera.project(surface)
    if not len(s):
        return 0.0
    u, v = np.floor(uv).astype(int).T
    H, W = depth_points.shape[:2]
    inside = (u >= 0) & (v >= 0) & (u < W) & (v < H)
    if not inside.any():
        return 0.0
    z = depth_points[..., 2]
    nearest = minimum_filter(np.where(np.isfinite(z), z, np.inf), size=3)[v[inside], u[inside]]
    ok = np.isfinite(nearest)
    margin = np.maximum(IN_FRONT, noise_threshold(nearest[ok]))
    return float(np.mean(s[inside][ok, 2] < nearest[ok] - margin)) if ok.any() else 0.0
