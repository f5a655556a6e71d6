"""Shape metrics in the official DeepSDF conventions (see REFERENCE.md).

Chamfer: mean *squared* nearest-neighbour distance in each direction, the two summed (no 1/2);
papers print it x 1e3. Distances are in the frame of the points given (state it when reporting).
"""
from __future__ import annotations

import numpy as np
import trimesh
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from core.fileio import ieee_denormals
from core.mesh.meshing import SurfaceMesh

CHAMFER_POINTS = 30_000


def _sample(mesh: SurfaceMesh | trimesh.Trimesh, count: int, seed: int) -> tuple[trimesh.Trimesh, np.ndarray, np.ndarray]:
    tm = mesh.to_trimesh() if isinstance(mesh, SurfaceMesh) else mesh
    if len(tm.faces) == 0:
        raise ValueError("cannot sample points on an empty mesh")
    points, face = trimesh.sample.sample_surface(tm, count, seed=seed)
    return tm, np.asarray(points, np.float64), face


def sample_surface(mesh: SurfaceMesh | trimesh.Trimesh, count: int = CHAMFER_POINTS, seed: int = 0) -> np.ndarray:
    return _sample(mesh, count, seed)[1]


def sample_oriented(mesh: SurfaceMesh | trimesh.Trimesh, count: int = CHAMFER_POINTS,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Surface points with the unit normals of the faces they lie on (for normal consistency)."""
    tm, points, face = _sample(mesh, count, seed)
    return points, np.asarray(tm.face_normals[face], np.float64)


def nearest_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from each point of a to its nearest point of b."""
    if len(a) == 0 or len(b) == 0:
        raise ValueError("metrics need two non-empty point sets")
    with ieee_denormals():
        return cKDTree(b).query(a, k=1, workers=-1)[0]


def surface_distances(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Each point's distance to a triangle mesh's surface (not to its vertices)."""
    import igl

    sq, _, _ = igl.point_mesh_squared_distance(np.ascontiguousarray(points, np.float64), np.ascontiguousarray(vertices, np.float64),
                                               np.ascontiguousarray(faces, np.int64))
    return np.sqrt(sq)


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """Official DeepSDF Chamfer distance between point sets (squared, summed over both directions)."""
    return float(np.mean(nearest_distances(a, b) ** 2) + np.mean(nearest_distances(b, a) ** 2))


def emd(a: np.ndarray, b: np.ndarray, count: int = 500, seed: int = 0) -> float:
    """Earth mover's distance on ``count`` points per side: exact one-to-one assignment, mean distance."""
    rng = np.random.default_rng(seed)
    a = a[rng.choice(len(a), count, replace=False)] if len(a) > count else a
    b = b[rng.choice(len(b), count, replace=False)] if len(b) > count else b
    cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def accuracy(generated: np.ndarray, truth: np.ndarray, percentile: float = 90.0) -> float:
    """Mesh accuracy: the distance within which ``percentile`` % of generated points lie from the truth."""
    return float(np.percentile(nearest_distances(generated, truth), percentile))


def completion(generated: np.ndarray, truth: np.ndarray, threshold: float = 0.01) -> float:
    """Share of ground-truth points within ``threshold`` of the generated surface."""
    return float(np.mean(nearest_distances(truth, generated) <= threshold))


def fscore(generated: np.ndarray, truth: np.ndarray, tau: float = 0.01) -> float:
    """F-score at distance ``tau`` (absolute units of the frame of the points)."""
    precision = np.mean(nearest_distances(generated, truth) <= tau)
    recall = np.mean(nearest_distances(truth, generated) <= tau)
    return float(0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))


def normal_consistency(a: np.ndarray, a_normals: np.ndarray, b: np.ndarray, b_normals: np.ndarray) -> float:
    """Mean |cos| between each point's normal and its nearest neighbour's on the other surface, both
    directions averaged (1 = normals agree everywhere; orientation-blind, as in Occupancy Networks)."""
    if len(a) == 0 or len(b) == 0:
        raise ValueError("metrics need two non-empty point sets")
    with ieee_denormals():
        ab = np.abs(np.sum(a_normals * b_normals[cKDTree(b).query(a, workers=-1)[1]], axis=1))
        ba = np.abs(np.sum(b_normals * a_normals[cKDTree(a).query(b, workers=-1)[1]], axis=1))
    return float((ab.mean() + ba.mean()) / 2)


def pieces(mesh: SurfaceMesh | trimesh.Trimesh, min_share: float = 1e-3) -> int:
    """Connected pieces of a mesh (faces joined by shared edges), ignoring slivers under ``min_share``
    of the total area: an interpolated chair should be one piece, not a seat beside floating legs."""
    tm = mesh.to_trimesh() if isinstance(mesh, SurfaceMesh) else mesh
    if len(tm.faces) == 0:
        return 0
    labels = trimesh.graph.connected_component_labels(tm.face_adjacency, node_count=len(tm.faces))
    areas = np.bincount(labels, weights=tm.area_faces)
    return int(np.sum(areas >= min_share * areas.sum()))
