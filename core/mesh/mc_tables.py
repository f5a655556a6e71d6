"""Marching-cubes case tables, derived rather than typed in.

For each of the 256 inside/outside patterns of a cube, the iso-surface polygons are found by walking
the six faces: on every face each run of inside corners is cut off by one segment, from the edge
where the walk leaves the run to the edge where it entered it. Shared edges chain the segments into
closed loops, which are triangulated. Because a face's segments depend only on that face's four
corners, neighbouring cubes always agree, so meshes are watertight (ambiguous faces separate inside
corners). A loop that crosses an ambiguous face twice is triangulated without a diagonal between two
vertices of that face: the neighbouring cube could draw the same diagonal, and the edge would then
have four triangles (non-manifold). Every other diagonal lies inside its cube, so each mesh edge has
exactly two triangles. Triangles are wound so that normals point to the outside (values above the level).

Corner c sits at (c & 1, c >> 1 & 1, c >> 2 & 1). Edge e runs from corner EDGE_CORNER[e] along axis
EDGE_AXIS[e].
"""
from __future__ import annotations

import numpy as np

CORNERS = np.array([[c & 1, (c >> 1) & 1, (c >> 2) & 1] for c in range(8)])
EDGE_CORNER = np.array([c for axis in range(3) for c in range(8) if not c >> axis & 1])
EDGE_AXIS = np.repeat(np.arange(3), 4)
_EDGE_OF = {(int(c), int(c) | 1 << int(a)): e for e, (c, a) in enumerate(zip(EDGE_CORNER, EDGE_AXIS))}


def _edge(a: int, b: int) -> int:
    return _EDGE_OF[(min(a, b), max(a, b))]


def _faces() -> list[list[int]]:
    """The six faces as corner cycles, counter-clockwise seen from outside the cube."""
    faces = []
    for axis in range(3):
        u, v = (axis + 1) % 3, (axis + 2) % 3  # e_u x e_v = e_axis
        for side in (0, 1):
            cyc = []
            for du, dv in ((0, 0), (1, 0), (1, 1), (0, 1)):
                pos = [0, 0, 0]
                pos[axis], pos[u], pos[v] = side, du, dv
                cyc.append(pos[0] | pos[1] << 1 | pos[2] << 2)
            faces.append(cyc if side == 1 else cyc[::-1])
    return faces


def _loops(case: int) -> list[list[int]]:
    inside = [bool(case >> c & 1) for c in range(8)]
    nxt: dict[int, int] = {}
    for cyc in _faces():
        crossings = []  # (edge, leaves_inside) in walking order
        for i in range(4):
            a, b = cyc[i], cyc[(i + 1) % 4]
            if inside[a] != inside[b]:
                crossings.append((_edge(a, b), inside[a]))
        # pair each exit with the entry that opened its run of inside corners
        for i, (edge, leaves) in enumerate(crossings):
            if leaves:
                entry = crossings[i - 1]
                assert not entry[1]
                nxt[edge] = entry[0]
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop, e = [], start
        while e not in seen:
            seen.add(e)
            loop.append(e)
            e = nxt[e]
        loops.append(loop[::-1])  # reversed: normals point away from the inside corners
    return loops


def _triangulations(poly: list[int]):
    """Every triangulation of a polygon (a list of triangles each), the fan from poly[0] first."""
    if len(poly) < 3:
        yield []
        return
    for k in range(len(poly) - 2, 0, -1):  # the triangle on side (poly[0], poly[-1]) has apex poly[k]
        for left in _triangulations(poly[:k + 1]):
            for right in _triangulations(poly[k:]):
                yield left + right + [(poly[0], poly[k], poly[-1])]


_FACE_EDGES = [{_edge(cyc[i], cyc[(i + 1) % 4]) for i in range(4)} for cyc in _faces()]


def _on_one_face(a: int, b: int) -> bool:
    return any(a in edges and b in edges for edges in _FACE_EDGES)


def _triangulate(loop: list[int]) -> list[tuple[int, int, int]]:
    """A triangulation whose diagonals all pass through the cube's interior (see the module doc)."""
    sides = {frozenset(p) for p in zip(loop, loop[1:] + loop[:1])}
    for tris in _triangulations(loop):
        edges = {frozenset((t[i], t[(i + 1) % 3])) for t in tris for i in range(3)}
        if not any(_on_one_face(*e) for e in edges - sides):
            return tris
    raise AssertionError(f"loop {loop} has no triangulation with interior diagonals")


def build_tables() -> tuple[np.ndarray, np.ndarray]:
    """(TRIANGLES (256, T, 3) edge ids padded with -1, COUNT (256,) triangles per case)."""
    per_case = [[t for loop in _loops(case) for t in _triangulate(loop)] for case in range(256)]
    width = max(len(t) for t in per_case)
    table = np.full((256, width, 3), -1, dtype=np.int64)
    for case, tris in enumerate(per_case):
        if tris:
            table[case, : len(tris)] = tris
    return table, np.array([len(t) for t in per_case])


TRIANGLES, COUNT = build_tables()
