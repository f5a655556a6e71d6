"""Damaged copies of synthetic chairs whose true inside/outside is known (the undamaged union).

The damage is what real meshes have: holes, flipped parts, intersecting duplicates, internal faces.
"""
from __future__ import annotations

from unittest import mock

import numpy as np
import trimesh

from core.data import shapes
from core.data.samples import normalize


def chair_and_parts(seed: int) -> tuple[trimesh.Trimesh, list[trimesh.Trimesh]]:
    """The watertight chair (normalised) and the closed parts it is the union of, in the same frame."""
    calls = []
    real_union = shapes.union

    def recording_union(parts):
        calls.append(list(parts))
        return real_union(parts)

    with mock.patch.object(shapes, "union", recording_union):
        solid = shapes.chair(np.random.default_rng([shapes.hash_category("chairs"), seed]))
    whole = shapes.make_shape("chairs", seed)  # normalised
    m = solid.to_mesh()
    raw = trimesh.Trimesh(np.asarray(m.vert_properties)[:, :3], np.asarray(m.tri_verts), process=False)
    _, offset, scale = normalize(raw)
    parts = []
    for part in calls[-1]:  # the top-level union
        pm = part.to_mesh()
        v = (np.asarray(pm.vert_properties)[:, :3] + offset) * scale
        parts.append(trimesh.Trimesh(v, np.asarray(pm.tri_verts), process=False))
    return whole, parts


def with_holes(mesh: trimesh.Trimesh, share: float, seed: int) -> trimesh.Trimesh:
    """``share`` of the faces removed at random."""
    keep = np.random.default_rng(seed).random(len(mesh.faces)) >= share
    return trimesh.Trimesh(mesh.vertices, mesh.faces[keep], process=False)


def flipped_parts_and_duplicate(parts: list[trimesh.Trimesh], shift: float = 0.003) -> trimesh.Trimesh:
    """Every other part with its faces flipped, plus a copy of the largest part shifted by ``shift``
    (it intersects the original), as one soup."""
    soup = [trimesh.Trimesh(p.vertices, p.faces[:, ::-1] if i % 2 else p.faces, process=False)
            for i, p in enumerate(parts)]
    big = max(parts, key=lambda p: p.area)
    soup.append(trimesh.Trimesh(big.vertices + shift, big.faces, process=False))
    return trimesh.util.concatenate(soup)


def internal_plane_and_holes(mesh: trimesh.Trimesh, parts: list[trimesh.Trimesh], share: float,
                             seed: int) -> trimesh.Trimesh:
    """A sheet through the middle of the seat (inside the solid: internal faces), plus holes."""
    seat = max(parts, key=lambda p: np.prod(p.extents[[0, 2]]) / p.extents[1])  # wide, flat
    lo, hi = seat.bounds
    pad = 0.05 * (hi - lo)
    (x0, y, z0), (x1, _, z1) = lo + pad, hi - pad
    y = (lo[1] + hi[1]) / 2
    plane = trimesh.Trimesh([[x0, y, z0], [x1, y, z0], [x1, y, z1], [x0, y, z1]], [[0, 2, 1], [0, 3, 2]], process=False)
    return trimesh.util.concatenate([with_holes(mesh, share, seed), plane.subdivide().subdivide().subdivide()])
