"""Closed solids to build shapes from (manifold3d): boxes, rods, bent tubes and boards, rounded and
curved panels, and their union. Every solid is watertight, so every union of them is too."""
from __future__ import annotations

import manifold3d as mf
import numpy as np

Solid = mf.Manifold
SEGMENTS = 20


def box(size, center) -> Solid:
    return Solid.cube(tuple(float(s) for s in size), center=True).translate(tuple(float(c) for c in center))


def rod(p0, p1, radius: float, square: bool = False, start_radius: float | None = None) -> Solid:
    """A cylinder (or square bar) from p0 to p1; round, it may taper from ``start_radius`` at p0 (a turned leg)."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    axis = p1 - p0
    length = float(np.linalg.norm(axis))
    if square:
        base = Solid.cube((2 * radius, 2 * radius, length), center=False).translate((-radius, -radius, 0.0))
    else:
        base = Solid.cylinder(length, radius if start_radius is None else start_radius, radius, SEGMENTS)
    z = axis / length
    helper = np.array([1.0, 0, 0]) if abs(z[0]) < 0.9 else np.array([0, 1.0, 0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    m = np.column_stack([x, y, z, p0])
    return base.transform(m.tolist())


def rounded_box(size, center, radius: float) -> Solid:
    """Box with rounded edges: hull of eight spheres."""
    r = min(radius, *(s / 2 - 1e-3 for s in size))
    half = np.asarray(size, float) / 2 - r
    ball = Solid.sphere(r, SEGMENTS)
    corners = [ball.translate(tuple(np.asarray(center) + half * np.array(s))) for s in np.ndindex(2, 2, 2)
               for s in [np.array(s) * 2 - 1]]
    return Solid.batch_hull(corners)


def union(parts: list[Solid]) -> Solid:
    return Solid.batch_boolean(parts, mf.OpType.Add)


def rotate_about(solid: Solid, angles_deg, pivot) -> Solid:
    pivot = tuple(float(p) for p in pivot)
    return solid.translate(tuple(-p for p in pivot)).rotate(tuple(float(a) for a in angles_deg)).translate(pivot)


def tube(points, radius: float) -> Solid:
    """A bent tube through ``points``: rods joined by balls, as steel tube frames are bent."""
    pts = [np.asarray(p, float) for p in points]
    return union([rod(a, b, radius) for a, b in zip(pts, pts[1:])] +
                 [Solid.sphere(radius, SEGMENTS).translate(tuple(p)) for p in pts[1:-1]])


def board(profile, width: float, thickness: float, x: float = 0.0) -> Solid:
    """A bent board (plywood, a moulded shell, a cushion) through ``profile``, (z, y) points of its side
    view, ``width`` across x centred on ``x``; each bend rounded by a cylinder of the board's thickness."""
    pts = [np.array([x, y, z], float) for z, y in profile]
    parts = []
    for a, b in zip(pts, pts[1:]):
        d = b - a
        angle = np.degrees(np.arctan2(d[1], d[2]))  # of the piece's length axis (z) in the side view
        piece = Solid.cube((float(width), float(thickness), float(np.linalg.norm(d))), center=True)
        parts.append(piece.rotate((float(-angle), 0.0, 0.0)).translate(tuple((a + b) / 2)))
    bend = Solid.cylinder(float(width), thickness / 2, thickness / 2, SEGMENTS, center=True).rotate((0.0, 90.0, 0.0))
    return union(parts + [bend.translate(tuple(p)) for p in pts[1:-1]])


def curved_panel(width: float, height: float, thickness: float, radius: float, y: float, z: float) -> Solid:
    """An upright panel bent about the vertical (a shell or spindle chair's back), concave to the front
    (+z): its bottom at height ``y``, the middle of its back face at depth ``z``."""
    outer = Solid.cylinder(height, radius, radius, 4 * SEGMENTS)
    shell = outer - Solid.cylinder(height * 3, radius - thickness, radius - thickness, 4 * SEGMENTS).translate((0, 0, -height))
    shell = shell.rotate((-90, 0, 0)).translate((0, y, z + radius))
    return shell ^ box((width, height, radius), (0, y + height / 2, z + radius / 2 - 0.001))
