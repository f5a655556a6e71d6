"""Inside or outside, for any triangle soup: what ``prepare`` needs to sign real meshes.

Real meshes (ShapeNet, CAD downloads, scans) are open, made of intersecting parts, with flipped, duplicate
and internal faces. The generalized winding number (Jacobson et al. 2013; libigl's fast version, Barill et
al. 2018) is ~1 inside and ~0 outside a closed, outward surface, ignores self-intersections and degrades
gracefully at holes (~0.5 near them). Two things break it, and this module repairs them first:

- a part whose faces are all flipped counts -1 inside: every part (a face-connected component) is made
  consistently wound and turned outward (positive signed volume);
- an open sheet (an internal plane, a single-sided panel) adds +-0.5 beside it depending on its arbitrary
  orientation, though it encloses nothing: flat open parts (isoperimetric ratio 36 pi V^2 / A^3 under
  FLAT) do not count towards the sign at all, and other open parts (a shell with holes) count |w|, so
  their orientation cannot matter either.

Faces with the solid on both sides (an internal plane, the overlap of intersecting parts) are not part of
the shape's surface: they are dropped before the unsigned distance is measured, as the official
preprocessor's renderings never see them. Points then get their distance to the outer surface.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import igl
import numpy as np
import trimesh

AMBIGUOUS = (0.25, 0.75)  # winding numbers this close to 0.5 give a sign we are not sure of
MAX_OPEN_PARTS = 64  # open parts counted one by one (|w|); beyond that the smallest are summed as oriented
FLAT = 1e-4  # isoperimetric ratio under which an open part is a sheet (a sphere has 1, a holed box ~0.01)


@dataclass
class SoupReport:
    """What a mesh looked like and how sure its sign is (one CSV row of prepare's report)."""

    faces: int
    parts: int
    open_parts: int
    boundary_edges: int
    watertight: bool
    consistent_winding: bool
    flipped_parts: int = 0
    sheets: int = 0  # flat open parts: no inside of their own, left out of the sign
    internal_faces: int = 0
    sign: str = ""  # the method used: exact or winding
    ambiguous: float = 0.0  # share of samples whose winding number lies in AMBIGUOUS
    inside: float = 0.0  # share of samples inside

    def row(self) -> dict:
        return asdict(self)


def describe_mesh(mesh: trimesh.Trimesh) -> SoupReport:
    """Watertightness, parts and boundary edges of a mesh, before any repair."""
    parts = _parts(mesh)
    open_parts = sum(not _closed(mesh.faces[p]) for p in parts)
    return SoupReport(faces=len(mesh.faces), parts=len(parts), open_parts=open_parts,
                      boundary_edges=int(np.sum(_edge_use(mesh.faces) == 1)), watertight=bool(mesh.is_watertight),
                      consistent_winding=bool(mesh.is_winding_consistent))


def _parts(mesh: trimesh.Trimesh) -> list[np.ndarray]:
    """Face indices of each face-connected component."""
    return trimesh.graph.connected_components(mesh.face_adjacency, nodes=np.arange(len(mesh.faces)), min_len=1)


def _edge_use(faces: np.ndarray) -> np.ndarray:
    """How many faces share each distinct (undirected) edge."""
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    return np.unique(edges, axis=0, return_counts=True)[1]


def _closed(faces: np.ndarray) -> bool:
    return bool(np.all(_edge_use(faces) == 2))


@dataclass
class OrientedSoup:
    """The parts of a soup, each consistently wound and turned outward."""

    vertices: np.ndarray  # (V, 3) float64
    closed: np.ndarray  # (Fc, 3) faces of every closed part, summed in one winding number
    open_parts: list[np.ndarray]  # faces of each open part counted as |w| ...
    open_rest: np.ndarray  # ... and of the many small ones beyond MAX_OPEN_PARTS, summed as oriented
    flipped: int
    sheets: int

    def winding(self, points: np.ndarray) -> np.ndarray:
        P = np.ascontiguousarray(points, dtype=np.float64)
        w = np.zeros(len(P))
        for faces, absolute in [(self.closed, False), (self.open_rest, False)] + [(f, True) for f in self.open_parts]:
            if len(faces):
                part = igl.fast_winding_number(self.vertices, np.ascontiguousarray(faces, dtype=np.int64), P)
                w += np.abs(part) if absolute else part
        return w


def orient(mesh: trimesh.Trimesh) -> OrientedSoup:
    """Wind every part consistently and outward (positive signed volume about its own centre)."""
    V = np.asarray(mesh.vertices, dtype=np.float64)
    closed, open_parts, flipped, sheets = [], [], 0, 0
    for part in _parts(mesh):
        sub = trimesh.Trimesh(V, mesh.faces[part], process=False)
        trimesh.repair.fix_winding(sub)  # consistent within the part (breadth-first over shared edges)
        faces = np.asarray(sub.faces)
        tri = V[faces]
        centre = tri.reshape(-1, 3).mean(0)
        volume = np.einsum("ij,ij->i", tri[:, 0] - centre, np.cross(tri[:, 1] - centre, tri[:, 2] - centre)).sum()
        if volume < 0:
            faces = faces[:, ::-1]
            flipped += 1
        if _closed(faces):
            closed.append(faces)
            continue
        area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum() / 2
        if 36 * np.pi * (volume / 6) ** 2 < FLAT * area ** 3:
            sheets += 1
        else:
            open_parts.append(faces)
    open_parts.sort(key=lambda f: -len(f))
    rest = open_parts[MAX_OPEN_PARTS:]
    join = lambda fs: np.concatenate(fs) if fs else np.zeros((0, 3), np.int64)
    return OrientedSoup(V, join(closed), open_parts[:MAX_OPEN_PARTS], join(rest), flipped, sheets)


def outer_faces(mesh: trimesh.Trimesh, soup: OrientedSoup, eps: float = 1e-4) -> np.ndarray:
    """Mask of the faces with outside on at least one side (the others lie inside the solid)."""
    tri = mesh.vertices[mesh.faces]
    centre = tri.mean(1)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(normal, axis=1, keepdims=True)
    normal = np.divide(normal, length, out=np.zeros_like(normal), where=length > 0)
    scale = eps * float(np.linalg.norm(mesh.extents))
    w = soup.winding(np.concatenate([centre + scale * normal, centre - scale * normal]))
    inside = w > 0.5
    return ~(inside[: len(tri)] & inside[len(tri):]) | (length[:, 0] == 0)


def winding_signed_distance(mesh: trimesh.Trimesh, points: np.ndarray,
                            report: SoupReport | None = None) -> tuple[np.ndarray, np.ndarray, SoupReport]:
    """Signed distance for any triangle soup: exact unsigned distance to its outer faces, sign from the
    repaired winding number. Negative inside. Returns (sdf, mask of the outer faces, report)."""
    report = report or describe_mesh(mesh)
    soup = orient(mesh)
    keep = outer_faces(mesh, soup)
    P = np.ascontiguousarray(points, dtype=np.float64)
    sq, _, _ = igl.point_mesh_squared_distance(P, soup.vertices, np.ascontiguousarray(mesh.faces[keep], dtype=np.int64))
    w = soup.winding(P)
    report.flipped_parts, report.sheets, report.sign = soup.flipped, soup.sheets, "winding"
    report.internal_faces = int(np.sum(~keep))
    report.ambiguous = float(np.mean((w > AMBIGUOUS[0]) & (w < AMBIGUOUS[1])))
    report.inside = float(np.mean(w > 0.5))
    dist = np.sqrt(sq)
    return np.where(w > 0.5, -dist, dist), keep, report
