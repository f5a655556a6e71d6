"""Paths through latent space: linear or spherical interpolation between two codes."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from .meshing import SurfaceMesh, export_mesh, mesh_code


CROSS_KIND = ("four-legged chair", "armchair")  # the seed's example: a wooden chair and a single-person sofa
# (``shapes.name_kind``: a seating model's armchair is its one-seat sofa) give a chair whose sides are closed


def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation: direction slerped, norm interpolated linearly (codes are not unit length)."""
    na, nb = a.norm(), b.norm()
    if na < 1e-8 or nb < 1e-8:
        return lerp(a, b, t)
    ua, ub = a / na, b / nb
    omega = torch.arccos((ua * ub).sum().clamp(-1, 1))
    if omega < 1e-4:
        return lerp(a, b, t)
    so = torch.sin(omega)
    u = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / so
    return u * (na + (nb - na) * t)


def interpolate(a: torch.Tensor, b: torch.Tensor, t: float, spherical: bool = False) -> torch.Tensor:
    """The code at ``t`` (0 -> a, 1 -> b; values outside [0, 1] extrapolate)."""
    return slerp(a, b, t) if spherical else lerp(a, b, t)


def export_sequence(decoder, a: torch.Tensor, b: torch.Tensor, out_dir: str | Path, steps: int = 10, res: int = 128,
                    spherical: bool = False, fmt: str = "ply", progress: Callable[[int, int], None] | None = None,
                    cancelled: Callable[[], bool] | None = None) -> list[SurfaceMesh]:
    """Mesh ``steps`` codes evenly spaced from a to b and write ``out_dir/step_000.<fmt>``, …

    Empty meshes are kept in the returned list (an animation keeps its timing) but not written.
    ``progress(done, steps)`` after each step; ``cancelled()`` stops between and inside steps.
    """
    if steps < 2:
        raise ValueError(f"an interpolation sequence needs at least 2 steps, got {steps}")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"cannot create the sequence folder {out_dir}: {e.strerror or e}") from e
    meshes = []
    for k in range(steps):
        mesh = mesh_code(decoder, interpolate(a, b, k / (steps - 1), spherical), res, cancelled=cancelled)
        if not mesh.is_empty:
            try:
                export_mesh(mesh, out_dir / f"step_{k:03d}.{fmt}")
            except OSError as e:  # e.g. the disk filled up: say how far the sequence got
                raise OSError(f"step {k + 1} of {steps}: {e} (steps before it are written)") from e
        meshes.append(mesh)
        if progress:
            progress(k + 1, steps)
    return meshes
