"""Small file helpers shared by every writer: atomic replacement and clear load errors."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import torch


class DataError(ValueError):
    """A file exists but its content is unusable; the message names the file and the problem."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    A crash or an exception leaves the previous file untouched. The temp file keeps the target's
    suffix so writers that pick a format by extension (numpy, trimesh, imageio) still work.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=parent)
    except OSError as e:
        raise OSError(f"cannot write {path}: {e.strerror or e}") from e
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_writable(path: str | os.PathLike) -> Path:
    """Refuse now a path ``atomic_path`` could not write later (after minutes of work): the nearest
    existing folder above it must be a writable folder (missing folders below it are made)."""
    path = Path(path)
    folder = path.absolute().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise OSError(f"cannot write {path}: {folder} is not a writable folder")  # as atomic_path says it
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def torch_save(obj, path: str | os.PathLike) -> Path:
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def torch_load(path: str | os.PathLike):
    """``torch.load`` that never unpickles arbitrary objects and names the file on failure."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing file: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt or unsafe files
        raise DataError(f"{path}: not a readable torch file ({type(e).__name__}: {str(e).splitlines()[0]})") from e


def default_device(name: str | None = None) -> torch.device:
    """CUDA when present, CPU otherwise; an explicit name wins."""
    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("--device cuda requested but CUDA is not available")
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


_flushing = False  # flush_denormals was called: ieee_denormals must turn it back on


def flush_denormals() -> None:
    """Treat denormal floats (|x| < 1.2e-38) as zero on the CPU, on this thread and the threads it starts.

    ReLU nets trained with Adam accumulate them in the optimiser state and in weights, and CPU
    arithmetic on them is many times slower: a training run slowed ~3x towards its end, and meshing
    the shipped model was 1.3x slower. Their values are far below anything the model resolves.
    Code that needs IEEE arithmetic runs inside ``ieee_denormals``.
    """
    global _flushing
    torch.set_flush_denormal(True)
    _flushing = True


@contextlib.contextmanager
def ieee_denormals() -> Iterator[None]:
    """Denormals as IEEE has them, on this thread, for the duration (a no-op unless ``flush_denormals`` ran).

    scipy's kd-tree needs them: where more points than a leaf holds share one coordinate of exactly 0, its
    sliding-midpoint split moves to the next float beside 0, a denormal that flushing reads as 0 itself;
    the split never moves, and the build recurses until the stack overflows. A real sensor whose cx is a
    whole number (7-Scenes: 320) puts its centre column at x = 0 exactly: the segfault of real Kinect
    frames in ``segment``. Our renders' cx (319.5) never did."""
    if not _flushing:
        yield
        return
    torch.set_flush_denormal(False)
    try:
        yield
    finally:
        torch.set_flush_denormal(True)


def zero_denormals(t: torch.Tensor) -> torch.Tensor:
    """A copy of ``t`` with denormal entries set to 0 (floating tensors; others unchanged)."""
    if not t.is_floating_point():
        return t
    tiny = torch.finfo(t.dtype).tiny
    return torch.where(t.abs() < tiny, torch.zeros((), dtype=t.dtype, device=t.device), t)
