"""Paths through latent space: linear or spherical interpolation between two codes."""
from __future__ import annotations

import torch


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
