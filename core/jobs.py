"""Cooperative cancellation shared by long jobs (meshing, fitting, thumbnails)."""
from __future__ import annotations


class Cancelled(Exception):
    """Raised inside a job when its ``cancelled()`` callback returns True; the caller's state is untouched."""
