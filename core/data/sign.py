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

The repaired winding number is still wrong where real meshes are made of many single-sided sheets (a
cushion of 8,752 sheets encloses a volume no closed part does): there visibility, the reference
preprocessor's convention, decides. A point is outside when some ray from it, among 100 directions,
escapes the mesh (embree ray casting). ``auto`` runs both and chooses per mesh (``_soup_inside``).

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
RAYS = 100  # directions a point is seen along, as the reference preprocessor's 100 virtual cameras
# Median share of rays escaping from the points the winding number puts inside but visibility does not:
# under it they see out through holes in a closed surface (2-4 % on chairs with 5 % of faces removed; the
# winding number fills holes), over it through the open ends of tubes and panels (~40 % on a real folding
# chair of open boxes), which visibility, the reference's convention, calls outside.
HOLE_LIGHT = 0.15


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
    sign: str = ""  # the method used: exact, winding, visibility or winding+visibility
    agreement: float | str = ""  # share of samples the winding number and visibility sign alike (where both ran)
    ambiguous: float = 0.0  # share of samples whose winding number lies in AMBIGUOUS
    inside: float = 0.0  # share of samples inside

    def row(self) -> dict:
        return asdict(self)


def describe_mesh(mesh: trimesh.Trimesh) -> SoupReport:
    """Watertightness, parts and boundary edges of a mesh, before any repair."""
    F = np.asarray(mesh.faces, dtype=np.int64)
    count, label = _parts(mesh)
    return SoupReport(faces=len(F), parts=count, open_parts=int(_open_parts(F, label, count).sum()),
                      boundary_edges=int(np.sum(_edge_use(F) == 1)), watertight=bool(mesh.is_watertight),
                      consistent_winding=bool(mesh.is_winding_consistent))


def _parts(mesh: trimesh.Trimesh) -> tuple[int, np.ndarray]:
    """Number of face-connected components and each face's component."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    adj, n = mesh.face_adjacency, len(mesh.faces)
    return connected_components(coo_matrix((np.ones(len(adj)), (adj[:, 0], adj[:, 1])), shape=(n, n)), directed=False)


def _open_parts(faces: np.ndarray, label: np.ndarray, count: int) -> np.ndarray:
    """Per part: has it an edge not shared by exactly two of its faces (a boundary, or non-manifold)?"""
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    edges = np.column_stack([np.repeat(label, 3), edges])  # an edge of each part (a non-manifold edge can join two)
    _, inverse, uses = np.unique(edges, axis=0, return_inverse=True, return_counts=True)
    open_face = (uses[inverse.reshape(-1)] != 2).reshape(-1, 3).any(1)
    return np.bincount(label, open_face, count) > 0


def _edge_use(faces: np.ndarray) -> np.ndarray:
    """How many faces share each distinct (undirected) edge."""
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    return np.unique(edges, axis=0, return_counts=True)[1]


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
    """Wind every part consistently and outward (positive signed volume about its own centre). Vectorised
    over parts: a real chair can be 88,000 parts of one or two triangles each."""
    V = np.asarray(mesh.vertices, dtype=np.float64)
    work = trimesh.Trimesh(V, np.asarray(mesh.faces), process=False)
    if not work.is_winding_consistent:
        trimesh.repair.fix_winding(work)  # consistent within each part (breadth-first over shared edges)
    F = np.asarray(work.faces, dtype=np.int64)
    count, label = _parts(work)
    tri = V[F]
    faces_of = np.bincount(label, minlength=count)
    centre = np.stack([np.bincount(label, tri[..., k].sum(1), count) for k in range(3)], 1) / (3 * faces_of[:, None])
    c = centre[label]
    volume = np.bincount(label, np.einsum("ij,ij->i", tri[:, 0] - c, np.cross(tri[:, 1] - c, tri[:, 2] - c)), count)
    flip = volume < 0
    F = np.where(flip[label, None], F[:, ::-1], F)
    is_open = _open_parts(F, label, count)
    area = np.bincount(label, np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1) / 2, count)
    sheet = is_open & (36 * np.pi * (volume / 6) ** 2 < FLAT * area ** 3)
    counted = np.flatnonzero(is_open & ~sheet)
    counted = counted[np.argsort(-faces_of[counted], kind="stable")]
    order = np.argsort(label, kind="stable")
    by_part = np.split(order, np.cumsum(faces_of)[:-1])
    part_faces = lambda parts: F[np.concatenate([by_part[k] for k in parts])] if len(parts) else np.zeros((0, 3), np.int64)
    return OrientedSoup(V, F[~is_open[label]], [F[by_part[k]] for k in counted[:MAX_OPEN_PARTS]],
                        part_faces(counted[MAX_OPEN_PARTS:]), int(flip.sum()), int(sheet.sum()))


def ray_directions(count: int, seed: int) -> np.ndarray:
    """``count`` unit directions spread evenly over the sphere (a Fibonacci lattice), turned by a random
    rotation and shuffled: an independent check draws its own with another seed."""
    rng = np.random.default_rng(seed)
    i = np.arange(count) + 0.5
    polar, azimuth = np.arccos(1 - 2 * i / count), np.pi * (1 + 5 ** 0.5) * i
    d = np.column_stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)])
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return (d @ (q * np.sign(np.diag(r))).T)[rng.permutation(count)]


def escaping_rays(mesh: trimesh.Trimesh, points: np.ndarray, directions: np.ndarray,
                  stop_after: int | None = 1) -> np.ndarray:
    """How many of ``directions`` a ray from each point leaves the mesh along without hitting it (embree
    when installed). A point is cast no further once ``stop_after`` rays escaped (None: every direction)."""
    caster = mesh.ray  # trimesh's embree intersector when embreex is installed
    points = np.asarray(points, dtype=np.float64)
    escaped = np.zeros(len(points), np.int64)
    live = np.arange(len(points))
    for d in directions:
        if not len(live):
            break
        hit = caster.intersects_any(points[live], np.broadcast_to(d, (len(live), 3)))
        escaped[live[~hit]] += 1
        if stop_after is not None:
            live = live[escaped[live] < stop_after]
    return escaped


def visible_outside(mesh: trimesh.Trimesh, points: np.ndarray, rays: int = RAYS, seed: int = 0) -> np.ndarray:
    """Visibility, the reference preprocessor's convention: a point is outside when some ray from it, among
    ``rays`` directions, escapes the mesh."""
    return escaping_rays(mesh, points, ray_directions(rays, seed)) > 0


def outer_faces(inside, mesh: trimesh.Trimesh, eps: float = 1e-4) -> np.ndarray:
    """Mask of the faces with outside on at least one side (the others lie inside the solid), by the
    ``inside`` test (points -> bools) that signs the samples."""
    tri = mesh.vertices[mesh.faces]
    centre = tri.mean(1)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(normal, axis=1, keepdims=True)
    normal = np.divide(normal, length, out=np.zeros_like(normal), where=length > 0)
    scale = eps * float(np.linalg.norm(mesh.extents))
    internal = inside(centre + scale * normal)
    internal[internal] = inside(centre[internal] - scale * normal[internal])  # the back only where the front is in
    return ~internal | (length[:, 0] == 0)


def _soup_inside(mesh: trimesh.Trimesh, soup: OrientedSoup, points: np.ndarray, method: str, seed: int,
                 report: SoupReport):
    """The inside test ``method`` gives this mesh (points -> bools), decided on ``points`` (the samples),
    and its answer for them; the report says what was chosen: winding, visibility, or for auto (both run)
    visibility, with the winding number's inside added where the mesh is a closed surface with holes
    (``HOLE_LIGHT``)."""
    by_winding = lambda Q: soup.winding(Q) > 0.5
    by_visibility = lambda Q: ~visible_outside(mesh, Q, seed=seed)
    if method != "auto":
        report.sign = method
        test = by_winding if method == "winding" else by_visibility
        return test, test(points)
    w_in, v_in = by_winding(points), by_visibility(points)
    report.agreement = float(np.mean(w_in == v_in))
    seen_out = np.flatnonzero(w_in & ~v_in)  # inside by the winding number, yet some ray escapes
    holed = False
    if len(seen_out) > 1e-3 * len(points):
        pick = np.random.default_rng(seed).choice(seen_out, min(len(seen_out), 2000), replace=False)
        light = escaping_rays(mesh, points[pick], ray_directions(RAYS, seed + 1), stop_after=None) / RAYS
        holed = float(np.median(light)) < HOLE_LIGHT
    report.sign = "winding+visibility" if holed else "visibility"
    if holed:
        return (lambda Q: by_winding(Q) | by_visibility(Q)), w_in | v_in
    return by_visibility, v_in


def soup_signed_distance(mesh: trimesh.Trimesh, points: np.ndarray, method: str = "auto", seed: int = 0,
                         report: SoupReport | None = None) -> tuple[np.ndarray, np.ndarray, SoupReport]:
    """Signed distance for any triangle soup: exact unsigned distance to its outer faces, sign by
    ``method`` (winding, visibility, or auto: see ``_soup_inside``). Negative inside. Returns (sdf, mask
    of the outer faces, report)."""
    report = report or describe_mesh(mesh)
    soup = orient(mesh)
    P = np.ascontiguousarray(points, dtype=np.float64)
    inside_of, inside = _soup_inside(mesh, soup, P, method, seed, report)
    keep = outer_faces(inside_of, mesh)
    sq, _, _ = igl.point_mesh_squared_distance(P, soup.vertices, np.ascontiguousarray(mesh.faces[keep], dtype=np.int64))
    report.flipped_parts, report.sheets = soup.flipped, soup.sheets
    report.internal_faces = int(np.sum(~keep))
    if method == "winding":
        w = soup.winding(P)
        report.ambiguous = float(np.mean((w > AMBIGUOUS[0]) & (w < AMBIGUOUS[1])))
    report.inside = float(np.mean(inside))
    dist = np.sqrt(sq)
    return np.where(inside, -dist, dist), keep, report


def winding_signed_distance(mesh: trimesh.Trimesh, points: np.ndarray,
                            report: SoupReport | None = None) -> tuple[np.ndarray, np.ndarray, SoupReport]:
    """``soup_signed_distance`` signed by the repaired winding number alone."""
    return soup_signed_distance(mesh, points, "winding", report=report)
