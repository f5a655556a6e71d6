"""Long jobs (meshing, fitting, thumbnails): cooperative cancellation, and what to tell the user when one fails."""
from __future__ import annotations

import torch


class Cancelled(Exception):
    """Raised inside a job when its ``cancelled()`` callback returns True; the caller's state is untouched."""


def describe(error: Exception) -> str:
    """What went wrong, for the user. Running out of GPU memory also says what to do about it, and hands the
    cached blocks back so the next job can run."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        torch.cuda.empty_cache()
        lines = str(error).strip().splitlines()
        first = lines[0] if lines else ""
        return (f"out of GPU memory ({first}); no file is half-written. Close other GPU programs, lower the mesh "
                "resolution or the batch, or run on the CPU: CUDA_VISIBLE_DEVICES= deepsdf ...")
    return str(error)
