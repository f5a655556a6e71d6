"""Decoder -> mesh: narrow-band coarse-to-fine evaluation and marching cubes on any torch device.

The decoder dominates the cost, and the surface touches a few percent of the grid. So a dense coarse
grid is evaluated first; each finer level evaluates only the nodes of cells that may hold the
surface: a sign change (grown by one cell), or corner values small enough for a zero to fit (the
nearest corner within k half-diagonals, all corners within k diagonals: a Lipschitz bound with a
safety factor k, since the network is not exactly 1-Lipschitz). Nodes never evaluated take the trilinear value of the coarser level, which has
the right sign because their cell has no sign change. Sign-only refinement (MISE) is not used: it
drops thin parts that fall between coarse nodes.

Grids span [-1, 1]^3 with ``res`` cells per axis (``res + 1`` nodes, voxel 2 / res), the official
sampling with N = res + 1.
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from core.fileio import atomic_write, check_writable
from core.jobs import Cancelled
from .mc_tables import COUNT, EDGE_AXIS, EDGE_CORNER, TRIANGLES, CORNERS
from core.model.decoder import Decoder, latent_field

Field = Callable[[torch.Tensor], torch.Tensor]  # (n, 3) -> (n,)
EXPORT_FORMATS = (".ply", ".obj", ".stl", ".glb", ".off")


@dataclass
class SurfaceMesh:
    vertices: np.ndarray  # (V, 3) float32
    faces: np.ndarray  # (F, 3) int64, normals towards positive sdf
    stats: dict = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return len(self.faces) == 0

    @cached_property
    def normals(self) -> np.ndarray:
        """Unit vertex normals (V, 3) float32, area-weighted face normals summed at each vertex.
        Cached: a worker computes them once so the GUI thread only hands them to VTK."""
        v, f = torch.as_tensor(self.vertices, dtype=torch.float32), torch.as_tensor(self.faces, dtype=torch.int64)
        if len(f) == 0:
            return np.zeros_like(self.vertices)
        face_n = torch.linalg.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
        n = torch.zeros_like(v).index_add_(0, f.reshape(-1), face_n.repeat_interleave(3, 0))
        return F.normalize(n, dim=1).numpy()

    def to_trimesh(self):
        import trimesh

        return trimesh.Trimesh(self.vertices, self.faces, process=False)

    def moved(self, M: np.ndarray) -> "SurfaceMesh":
        """Through a 4x4 similarity ``M`` (e.g. an object's model-to-camera pose); a positive scale keeps
        the faces' orientation."""
        v = self.vertices @ M[:3, :3].T + M[:3, 3]
        return SurfaceMesh(v.astype(np.float32), self.faces, dict(self.stats))

    def transformed(self, offset, scale: float) -> "SurfaceMesh":
        """Back to a shape's original frame: x = normalised / scale - offset."""
        v = self.vertices / float(scale) - np.asarray(offset, np.float32).reshape(1, 3)
        return SurfaceMesh(v.astype(np.float32), self.faces, dict(self.stats))


def empty_mesh(reason: str, **stats) -> SurfaceMesh:
    return SurfaceMesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64), {"empty_reason": reason, **stats})


# --- marching cubes -------------------------------------------------------------------------------

_TABLES: dict[torch.device, tuple[torch.Tensor, ...]] = {}


def _tables(device: torch.device):
    if device not in _TABLES:
        _TABLES[device] = tuple(torch.as_tensor(t, device=device) for t in
                                (TRIANGLES, COUNT, EDGE_CORNER, EDGE_AXIS, CORNERS))
    return _TABLES[device]


def marching_cubes_torch(values: torch.Tensor, level: float = 0.0, origin=(-1.0, -1.0, -1.0),
                         spacing: float | tuple = 1.0) -> SurfaceMesh:
    """Vectorised marching cubes of a (nx, ny, nz) grid on its own device.

    Only cells with corners on both sides of ``level`` are processed; vertices are shared through
    global edge ids. Inside means ``value < level``.
    """
    tri_table, count, edge_corner, edge_axis, corners = _tables(values.device)
    nx, ny, nz = values.shape
    if min(nx, ny, nz) < 2:
        return empty_mesh("grid needs at least 2 nodes per axis")
    inside = (values < level).to(torch.uint8)
    case = torch.zeros((nx - 1, ny - 1, nz - 1), dtype=torch.uint8, device=values.device)
    for c, (dx, dy, dz) in enumerate(CORNERS.tolist()):
        case |= inside[dx:nx - 1 + dx, dy:ny - 1 + dy, dz:nz - 1 + dz] << c
    active = ((case != 0) & (case != 255)).nonzero()
    if len(active) == 0:
        where = "inside" if bool(inside[0, 0, 0]) else "outside"
        return empty_mesh(f"no surface at level {level}: the whole grid is {where}")
    cases = case[active[:, 0], active[:, 1], active[:, 2]].long()
    tri = tri_table[cases]  # (M, T, 3)
    valid = torch.arange(tri.shape[1], device=values.device)[None, :] < count[cases][:, None]
    cell = active[:, None, None, :].expand(-1, tri.shape[1], 3, 3)[valid]  # (K, 3, 3)
    local = tri[valid]  # (K, 3) local edge ids
    base = cell + corners[edge_corner[local]]  # grid node at the edge's start
    gid = ((base[..., 0] * ny + base[..., 1]) * nz + base[..., 2]) * 3 + edge_axis[local]
    uniq, faces = torch.unique(gid.reshape(-1), return_inverse=True)
    axis = uniq % 3
    node = uniq // 3
    p0 = torch.stack([node // (ny * nz), (node // nz) % ny, node % nz], dim=1)
    p1 = p0 + F.one_hot(axis, 3)
    v0 = values[p0[:, 0], p0[:, 1], p0[:, 2]]
    v1 = values[p1[:, 0], p1[:, 1], p1[:, 2]]
    t = ((level - v0) / (v1 - v0)).clamp(0, 1)
    pos = p0.to(values.dtype) + t[:, None] * (p1 - p0).to(values.dtype)
    spacing_t = torch.as_tensor(spacing, dtype=values.dtype, device=values.device)
    origin_t = torch.as_tensor(origin, dtype=values.dtype, device=values.device)
    verts = origin_t + pos * spacing_t
    return SurfaceMesh(verts.float().cpu().numpy(), faces.reshape(-1, 3).cpu().numpy().astype(np.int64))


def marching_cubes_vtk(values: torch.Tensor, level: float = 0.0, origin=(-1.0, -1.0, -1.0),
                       spacing: float | tuple = 1.0) -> SurfaceMesh:
    """VTK Flying Edges through pyvista (CPU); same conventions as the torch version."""
    import pyvista as pv

    grid = pv.ImageData(dimensions=values.shape, origin=tuple(origin),
                        spacing=(spacing,) * 3 if np.isscalar(spacing) else tuple(spacing))
    grid.point_data["v"] = values.detach().cpu().numpy().ravel(order="F")
    surf = grid.contour([level], scalars="v", method="flying_edges", compute_normals=False,
                        compute_gradients=False, compute_scalars=False)
    if surf.n_cells == 0:
        where = "inside" if float(values.reshape(-1)[0]) < level else "outside"
        return empty_mesh(f"no surface at level {level}: the whole grid is {where}")
    faces = surf.faces.reshape(-1, 4)[:, 1:].astype(np.int64)
    return SurfaceMesh(np.asarray(surf.points, np.float32), faces[:, ::-1].copy())  # VTK winds inwards


def marching_cubes(values: torch.Tensor, level=0.0, origin=(-1.0, -1.0, -1.0), spacing=1.0,
                   backend: str = "auto") -> SurfaceMesh:
    """``auto``: VTK Flying Edges for CPU tensors (faster there), torch elsewhere."""
    if backend == "auto":
        backend = "vtk" if values.device.type == "cpu" else "torch"
    fn = {"torch": marching_cubes_torch, "vtk": marching_cubes_vtk}[backend]
    return fn(values, level, origin, spacing)


# --- decoder evaluation ---------------------------------------------------------------------------

def grid_coords(idx: torch.Tensor, res: int) -> torch.Tensor:
    """Node indices (n, 3) of a res-cell grid -> points in [-1, 1]^3."""
    return idx.float() * (2.0 / res) - 1.0


CPU_CHUNK = 1024  # rows per decoder call on a CPU: cache-sized blocks run ~15 % faster than big ones


def _chunk_size(decoder: Decoder | None, memory_mb: float, device: torch.device) -> int:
    """Rows per decoder call: as many as ``memory_mb`` of activations allow (GPUs want big batches)."""
    width = max(decoder.arch.dims) if decoder is not None else 64
    rows = max(256, int(memory_mb * 2**20 / (4 * 3 * width)))
    return min(rows, CPU_CHUNK) if device.type == "cpu" else rows


def evaluate(field_fn: Field, points: torch.Tensor, chunk: int, cancelled: Callable[[], bool] | None = None) -> torch.Tensor:
    out = torch.empty(len(points), device=points.device)
    with torch.inference_mode():
        for s in range(0, len(points), chunk):
            if cancelled and cancelled():
                raise Cancelled()
            out[s:s + chunk] = field_fn(points[s:s + chunk])
    return out


def coarse_stride(res: int, coarse: int = 16) -> int:
    """Largest power of two dividing ``res`` that leaves at least ``coarse`` cells (min 1)."""
    s = 1
    while res % (2 * s) == 0 and res // (2 * s) >= coarse:
        s *= 2
    return s


def _dilate(cells: torch.Tensor) -> torch.Tensor:
    """Marked cells grown by one cell along every axis (3x3x3 neighbourhood), on booleans."""
    for d in range(3):
        grown = cells.clone()
        grown.narrow(d, 1, cells.shape[d] - 1).logical_or_(cells.narrow(d, 0, cells.shape[d] - 1))
        grown.narrow(d, 0, cells.shape[d] - 1).logical_or_(cells.narrow(d, 1, cells.shape[d] - 1))
        cells = grown
    return cells


def _corner_nodes(cells: torch.Tensor) -> torch.Tensor:
    """(c + 1)^3 nodes that are a corner of at least one marked cell of a c^3 grid."""
    for d in range(3):
        shape = list(cells.shape)
        shape[d] += 1
        nodes = torch.zeros(shape, dtype=torch.bool, device=cells.device)
        nodes.narrow(d, 0, cells.shape[d]).copy_(cells)  # node i is a corner of cell i...
        nodes.narrow(d, 1, cells.shape[d]).logical_or_(cells)  # ...and of cell i - 1
        cells = nodes
    return cells


def narrow_band_levels(field_fn: Field, res: int, device, *, coarse: int = 16, safety: float = 1.5,
                       chunk: int = 65536, cancelled=None) -> Iterator[tuple[torch.Tensor, int, int]]:
    """Yield (values, stride, evaluated so far) from the dense coarse grid down to stride 1.

    ``values`` is the full grid of that level ((res / stride + 1)^3 nodes).
    """
    stride = coarse_stride(res, coarse)
    n = res // stride + 1
    idx = torch.stack(torch.meshgrid(*(torch.arange(n, device=device),) * 3, indexing="ij"), -1).reshape(-1, 3)
    values = evaluate(field_fn, grid_coords(idx * stride, res), chunk, cancelled).reshape(n, n, n)
    known = torch.ones_like(values, dtype=torch.bool)
    evaluated = n ** 3
    yield values, stride, evaluated
    voxel = 2.0 / res
    while stride > 1:
        h = stride * voxel
        corners = torch.stack([values[dx:n - 1 + dx, dy:n - 1 + dy, dz:n - 1 + dz]
                               for dx, dy, dz in CORNERS.tolist()])
        crossing = (corners.amin(0) < 0) & (corners.amax(0) >= 0)
        near = corners.abs()
        maybe = ~crossing & (near.amin(0) <= safety * h * math.sqrt(3) / 2) & _may_hold_zero(
            near.amax(0), (near[:4] + near.flip(0)[:4]).amax(0), h, safety)  # corner i is opposite 7 - i
        fine_n = 2 * (n - 1) + 1
        values = F.interpolate(values[None, None], size=(fine_n,) * 3, mode="trilinear", align_corners=True)[0, 0]
        fine_known = torch.zeros((fine_n,) * 3, dtype=torch.bool, device=device)
        fine_known[::2, ::2, ::2] = known
        stride //= 2
        # a cell kept only by the Lipschitz test: its centre decides. Centre and corner c are opposite
        # corners of the sub-cell at c, so the sub-cell may hold a zero only if the pair passes the test.
        cells = maybe.nonzero()
        if len(cells):
            centres = 2 * cells + 1
            v = evaluate(field_fn, grid_coords(centres * stride, res), chunk, cancelled)
            values[centres[:, 0], centres[:, 1], centres[:, 2]] = v
            fine_known[centres[:, 0], centres[:, 1], centres[:, 2]] = True
            evaluated += len(cells)
            c = corners[:, cells[:, 0], cells[:, 1], cells[:, 2]]
            keep = (((c < 0) != (v < 0)) | _may_hold_zero(torch.maximum(c.abs(), v.abs()), c.abs() + v.abs(),
                                                          h / 2, safety)).any(0)
            maybe[cells[~keep, 0], cells[~keep, 1], cells[~keep, 2]] = False
        # refine: every node of the fine cells that may hold the surface (crossing cells grown by one
        # fine cell); every other node keeps the value interpolated from the coarser level (same sign)
        up = lambda m: m.repeat_interleave(2, 0).repeat_interleave(2, 1).repeat_interleave(2, 2)
        need = _corner_nodes(_dilate(up(crossing)) | up(maybe))
        todo = (need & ~fine_known).nonzero()
        if len(todo):
            values[todo[:, 0], todo[:, 1], todo[:, 2]] = evaluate(field_fn, grid_coords(todo * stride, res), chunk, cancelled)
        evaluated += len(todo)
        known = fine_known | need
        n = fine_n
        yield values, stride, evaluated


def _may_hold_zero(farthest: torch.Tensor, opposite: torch.Tensor, h: float, safety: float) -> torch.Tensor:
    """Necessary conditions for a zero at some p inside a cube of side h when |grad f| <= safety, from
    |f| at its corners: p lies within h*sqrt(3) of every corner (``farthest`` = largest |f|), and
    |p - c| + |p - c'| <= h (1 + sqrt(2)) for opposite corners c, c' (convex in p, so largest at a
    vertex; ``opposite`` = largest |f(c)| + |f(c')|)."""
    return (farthest <= safety * h * math.sqrt(3)) & (opposite <= safety * h * (1 + math.sqrt(2)))


def dense_values(field_fn: Field, res: int, device, chunk: int = 65536, cancelled=None) -> torch.Tensor:
    """The reference: every node of the (res + 1)^3 grid."""
    n = res + 1
    out = torch.empty(n ** 3, device=device)
    with torch.inference_mode():
        for s in range(0, n ** 3, chunk):
            lin = torch.arange(s, min(s + chunk, n ** 3), device=device)
            idx = torch.stack([lin // (n * n), (lin // n) % n, lin % n], 1)
            if cancelled and cancelled():
                raise Cancelled()
            out[s:s + len(lin)] = field_fn(grid_coords(idx, res))
    return out.reshape(n, n, n)


def mesh_levels(decoder: Decoder, z: torch.Tensor, res: int = 128, *, dense: bool = False, coarse: int = 16,
                safety: float = 1.5, memory_mb: float = 512, backend: str = "auto",
                cancelled: Callable[[], bool] | None = None, field_fn: Field | None = None) -> Iterator[SurfaceMesh]:
    """Yield a mesh after each level (coarse first); the last one is at ``res``.

    ``field_fn`` replaces the decoder (analytic fields, tests). Meshes are in the normalised frame.
    """
    device = decoder.device if decoder is not None else torch.device("cpu")
    fn = field_fn or latent_field(decoder, z)
    chunk = _chunk_size(decoder, memory_mb, device)
    t0 = time.perf_counter()
    if dense:
        levels = iter([(dense_values(fn, res, device, chunk, cancelled), 1, (res + 1) ** 3)])
    else:
        levels = narrow_band_levels(fn, res, device, coarse=coarse, safety=safety, chunk=chunk, cancelled=cancelled)
    for values, stride, evaluated in levels:
        t1 = time.perf_counter()
        cells = res // stride
        mesh = marching_cubes(values, 0.0, (-1.0,) * 3, 2.0 / cells, backend)
        t2 = time.perf_counter()
        mesh.stats.update(res=cells, evaluated=evaluated, fraction=evaluated / (res + 1) ** 3,
                          eval_ms=1000 * (t1 - t0), mc_ms=1000 * (t2 - t1), device=str(device))
        yield mesh
        t0 = time.perf_counter()


def mesh_code(decoder: Decoder, z: torch.Tensor, res: int = 128, **kwargs) -> SurfaceMesh:
    """The final mesh of ``mesh_levels``: one latent code -> triangle mesh."""
    mesh = None
    for mesh in mesh_levels(decoder, z, res, **kwargs):
        pass
    return mesh


def memo_mesher(decoder: Decoder, res: int, size: int = 8) -> Callable[[torch.Tensor], SurfaceMesh]:
    """``mesh_code`` at ``res`` that keeps the meshes of the last ``size`` codes: a pose-free fit meshes the same
    code to judge its outline, to stand it on the floor and to take its frame (``completion.fit_segment``), about
    a fifth of a second each at 64^3. The meshes it returns are shared: move them (``moved``), never edit them."""
    kept: OrderedDict[bytes, SurfaceMesh] = OrderedDict()

    def mesh(z: torch.Tensor) -> SurfaceMesh:
        key = z.detach().cpu().numpy().tobytes()
        if key not in kept:
            kept[key] = mesh_code(decoder, z, res)
            if len(kept) > size:
                kept.popitem(last=False)
        kept.move_to_end(key)
        return kept[key]

    return mesh


def check_export(path: str | Path) -> Path:
    """What ``export_mesh`` refuses without a mesh (the format, a place it cannot write), to ask before a fit."""
    path = Path(path)
    if path.suffix.lower() not in EXPORT_FORMATS:
        raise ValueError(f"{path}: unsupported mesh format {path.suffix!r} (use {', '.join(EXPORT_FORMATS)})")
    return check_writable(path)


def export_mesh(mesh: SurfaceMesh, path: str | Path) -> Path:
    """Write PLY/OBJ/STL/GLB/OFF (by extension) atomically through trimesh."""
    path = check_export(path)
    if mesh.is_empty:
        raise ValueError(f"{path}: nothing to export, the mesh is empty ({mesh.stats.get('empty_reason', 'no faces')})")
    tm = mesh.to_trimesh()
    return atomic_write(path, lambda tmp: tm.export(tmp))
