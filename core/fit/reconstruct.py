"""Batch latent fitting of a split, written in the official ``Reconstructions/`` layout (resumable)."""
from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from core.model.bundle import Bundle, write_code_file

from core.data.samples import read_split
from .latent import FitData, fit
from core.mesh.meshing import export_mesh, mesh_code
from core.data.samples import read_sdf_npz


def reconstruction_paths(out_dir: Path, epoch, ds: str, cls: str, inst: str) -> tuple[Path, Path]:
    root = Path(out_dir) / "Reconstructions" / str(epoch)
    return root / "Codes" / ds / cls / f"{inst}.pth", root / "Meshes" / ds / cls / f"{inst}.ply"


def reconstruct(bundle: Bundle, data_dir: str | Path, split: str | Path, out_dir: str | Path, method: str = "lm",
                res: int = 256, progress: bool = True, **fit_kwargs) -> list[dict]:
    """Fit a code to every shape of ``split`` (SdfSamples under ``data_dir``), then mesh it.

    Shapes whose code and mesh already exist are skipped, so an interrupted run resumes.
    Returns one record per shape: name, code path, mesh path, loss, iterations, seconds.
    """
    data_dir = Path(data_dir)
    epoch = bundle.info.get("epoch", "latest")
    records = []
    for ds, cls, inst in tqdm(read_split(split), desc=f"reconstruct ({method})", disable=not progress):
        code_path, mesh_path = reconstruction_paths(out_dir, epoch, ds, cls, inst)
        record = {"name": inst, "code": code_path, "mesh": mesh_path}
        if code_path.is_file() and mesh_path.is_file():
            records.append({**record, "skipped": True})
            continue
        pos, neg = read_sdf_npz(data_dir / "SdfSamples" / ds / cls / f"{inst}.npz")
        result = fit(bundle.decoder, FitData.from_sdf(pos, neg), method, init=bundle.latents.codes, **fit_kwargs)
        mesh = mesh_code(bundle.decoder, result.code, res)
        if not mesh.is_empty:
            export_mesh(mesh, mesh_path)
        write_code_file(result.code, code_path)  # written last: marks the shape as done
        records.append({**record, "loss": result.losses[-1], "iterations": result.iterations,
                        "seconds": result.seconds, "empty": mesh.is_empty})
    return records

