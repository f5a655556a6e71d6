"""Latent fitting: one code for given SDF samples, decoder frozen.

Two solvers minimise the same objective, E(z) = mean_i |r_i(z)| + prior * mean((z - anchor)^2), where r_i is
the clamped SDF error of a sample (or, for free-space samples, how far the prediction falls below
the sample's lower bound) and the anchor is 0 (the paper's Gaussian prior) or, for LM, a given code:

- ``adam``: the official ``reconstruct.py`` recipe (800 iterations of 8000 samples, half outside and
  half inside, lr 5e-3 then 5e-4 from iteration 400, init N(0, 0.01^2)). The baseline users know.
- ``lm``: Levenberg-Marquardt with IRLS weights 1 / max(|r_i|, 0.03) (a Huber approximation of the
  L1 objective), started from the training code that best explains the samples. The decoder maps each row independently, so with a per-row copy of the code a single
  forward and backward pass give the full n x L Jacobian; one step costs about one Adam step plus an
  L x L solve, and tens of steps replace 800.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np
import torch

from core.jobs import Cancelled
from core.model.decoder import CLAMP, Decoder, latent_field

PRIOR = 1e-4  # weight of mean(z^2), as in the official reconstruct.py


@dataclass
class FitData:
    """Samples to fit: rows with ``free`` set only require prediction >= ``sdf`` (free space)."""

    xyz: torch.Tensor  # (n, 3) in the model's normalised frame
    sdf: torch.Tensor  # (n,) target, or lower bound for free rows
    free: torch.Tensor  # (n,) bool
    noise: float  # depth noise of the scan the samples come from, model units (``scan.smooth_surface``); 0: exact
    # samples. No default: a noisy scan fitted with the clean settings chases its noise (``completion._scan_settings``)

    def __post_init__(self):
        n = len(self.xyz)
        if self.xyz.ndim != 2 or self.xyz.shape[1] != 3 or self.sdf.shape != (n,) or self.free.shape != (n,):
            raise ValueError(f"fit data needs xyz (n, 3), sdf (n,), free (n,); got {tuple(self.xyz.shape)}, "
                             f"{tuple(self.sdf.shape)}, {tuple(self.free.shape)}")
        if n == 0:
            raise ValueError("no samples to fit")
        if not (torch.isfinite(self.xyz).all() and torch.isfinite(self.sdf).all()):
            raise ValueError("fit samples contain NaN or infinite values")
        if not (np.isfinite(self.noise) and self.noise >= 0):
            raise ValueError(f"fit data needs a depth noise >= 0 (0 for exact samples); got {self.noise}")

    @classmethod
    def from_sdf(cls, pos: np.ndarray, neg: np.ndarray) -> "FitData":
        rows = torch.from_numpy(np.concatenate([pos, neg]).astype(np.float32))
        return cls(rows[:, :3].contiguous(), rows[:, 3].contiguous(), torch.zeros(len(rows), dtype=torch.bool), 0.0)

    def to(self, device) -> "FitData":
        return FitData(self.xyz.to(device), self.sdf.to(device), self.free.to(device), self.noise)

    def subset(self, idx: torch.Tensor) -> "FitData":
        return FitData(self.xyz[idx], self.sdf[idx], self.free[idx], self.noise)

    @cached_property
    def _pools(self) -> tuple[torch.Tensor, torch.Tensor]:
        outside = (self.sdf > 0) | self.free
        return outside.nonzero()[:, 0].cpu(), (~outside).nonzero()[:, 0].cpu()

    def balanced(self, count: int, gen: torch.Generator) -> torch.Tensor:
        """``count`` row indices, half from outside rows (sdf > 0 or free) and half from inside rows."""
        parts = []
        for pool, k in zip(self._pools, (count // 2, count - count // 2)):
            if len(pool) == 0:
                pool = torch.arange(len(self.sdf))
            parts.append(pool[torch.randint(len(pool), (k,), generator=gen)])
        return torch.cat(parts).to(self.xyz.device)


@dataclass
class FitResult:
    code: torch.Tensor
    losses: list[float] = field(default_factory=list)  # objective per iteration
    iterations: int = 0
    seconds: float = 0.0
    method: str = ""


Progress = Callable[[int, float, torch.Tensor], None]  # (iteration, loss, current code)


def residuals(pred: torch.Tensor, data: FitData, clamp: float = CLAMP) -> torch.Tensor:
    fitted = pred.clamp(-clamp, clamp) - data.sdf.clamp(-clamp, clamp)
    return torch.where(data.free, (pred - data.sdf).clamp(max=0), fitted)


def objective(decoder: Decoder, z: torch.Tensor, data: FitData, clamp: float = CLAMP, prior: float = PRIOR) -> torch.Tensor:
    device = decoder.device
    z, data = z.to(device), data.to(device)
    rows = torch.cat([z.reshape(1, -1).expand(len(data.xyz), -1), data.xyz], 1)
    return residuals(decoder(rows)[:, 0], data, clamp).abs().mean() + prior * (z ** 2).mean()


def _frozen(decoder: Decoder):
    decoder.eval()
    for p in decoder.parameters():
        p.requires_grad_(False)


def _unfreeze(decoder: Decoder):
    for p in decoder.parameters():
        p.requires_grad_(True)


def fit_adam(decoder: Decoder, data: FitData, iterations: int = 800, samples: int = 8000, lr: float = 5e-3,
             decrease_at: int = 400, init_std: float = 0.01, clamp: float = CLAMP, prior: float = PRIOR,
             seed: int = 0, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None) -> FitResult:
    """The official reconstruction recipe."""
    device = decoder.device
    data = data.to(device)
    gen = torch.Generator().manual_seed(seed)
    z = (torch.randn(decoder.arch.latent_size, generator=gen) * init_std).to(device).requires_grad_()
    opt = torch.optim.Adam([z], lr=lr)
    result = FitResult(z.detach().cpu().clone(), method="adam")
    t0 = time.perf_counter()
    _frozen(decoder)
    try:
        for it in range(iterations):
            if cancelled and cancelled():
                raise Cancelled()
            if it == decrease_at:
                opt.param_groups[0]["lr"] = lr * 0.1
            loss = objective(decoder, z, data.subset(data.balanced(samples, gen)), clamp, prior)
            opt.zero_grad()
            loss.backward()
            opt.step()
            result.losses.append(loss.item())
            if progress:
                progress(it, result.losses[-1], z.detach().cpu())
    finally:
        _unfreeze(decoder)
    result.code, result.iterations, result.seconds = z.detach().cpu().clone(), iterations, time.perf_counter() - t0
    return result


def _trial(decoder: Decoder, z: torch.Tensor, data: FitData, clamp: float, prior: float,
           anchor: torch.Tensor | float) -> tuple[float, torch.Tensor, Callable[[], torch.Tensor]]:
    """(objective, predictions (n,), their Jacobian d pred / d z (n, L) on demand) at ``z``, from one forward pass
    that keeps its graph: an LM step that is accepted takes its Jacobian from the pass that tested it, not from a
    second forward. Every row has its own copy of the code; since row i's output depends only on row i's input,
    the gradient of the summed outputs w.r.t. the copies is exactly the Jacobian."""
    codes = z.detach().reshape(1, -1).expand(len(data.xyz), -1).clone().requires_grad_()
    pred = decoder(torch.cat([codes, data.xyz], 1))[:, 0]
    loss = (residuals(pred.detach(), data, clamp).abs().mean() + prior * ((z - anchor) ** 2).mean()).item()
    return loss, pred.detach(), lambda: torch.autograd.grad(pred.sum(), codes)[0]


def _loss(decoder: Decoder, z: torch.Tensor, data: FitData, clamp: float, prior: float,
          anchor: torch.Tensor | float = 0.0) -> float:
    """The objective without gradients, the code folded into the biases (cheaper than ``objective``)."""
    with torch.no_grad():
        return (residuals(latent_field(decoder, z)(data.xyz), data, clamp).abs().mean() + prior * ((z - anchor) ** 2).mean()).item()


def nearest_code(codes: torch.Tensor, z: torch.Tensor) -> tuple[int, float]:
    """Index of the code (row of ``codes``) nearest ``z``, and its Euclidean distance."""
    d = (codes - z.to(codes)).norm(dim=1)
    i = int(d.argmin())
    return i, float(d[i])


def best_starts(decoder: Decoder, candidates: torch.Tensor, data: FitData, gen: torch.Generator, keep: int = 1,
                count: int = 1024, clamp: float = CLAMP) -> torch.Tensor:
    """The ``keep`` candidate codes (e.g. of every training code) that best explain ``count`` of the
    samples, best first: (keep, L)."""
    sub = data.subset(data.balanced(count, gen))
    losses = [_loss(decoder, c, sub, clamp, 0.0) for c in candidates]
    return candidates[np.argsort(losses, kind="stable")[:keep]].clone()


FUTILE = 0.5  # an LM step whose decrease the quadratic model puts below this share of a stall's ends the fit


def promised(g: torch.Tensor, H: torch.Tensor, step: torch.Tensor) -> float:
    """The decrease of the objective that its quadratic model (gradient ``g``, Gauss-Newton ``H``) promises for ``step``."""
    return float(-(g @ step + 0.5 * step @ H @ step))


def fit_lm(decoder: Decoder, data: FitData, iterations: int = 60, samples: int = 8192, damping: float = 1e-2,
           tol: float = 1e-3, init: torch.Tensor | None = None, huber: float = 0.3 * CLAMP, clamp: float = CLAMP,
           prior: float = PRIOR, seed: int = 0, progress: Progress | None = None,
           cancelled: Callable[[], bool] | None = None, anchor: torch.Tensor | None = None) -> FitResult:
    """Levenberg-Marquardt with IRLS weights 1 / max(|r|, huber) (least squares for small residuals,
    L1 above: a Huber fit of the L1 objective) on a fixed balanced subset of ``samples`` rows.

    ``init``: a start code (L,), or candidates (N, L) of which the one that explains the samples best
    is taken (pass the training codes: a start in the right basin halves the iterations). ``anchor``:
    the code the prior pulls towards (default 0). The first steps use a quarter of the rows, the last
    ones all of them.
    """
    device = decoder.device
    gen = torch.Generator().manual_seed(seed)
    data = data.to(device)
    if len(data.sdf) > samples:
        data = data.subset(data.balanced(samples, gen))
    L = decoder.arch.latent_size
    if init is None:
        z = torch.zeros(L, device=device)
    elif init.ndim == 2:
        z = best_starts(decoder, init.detach().to(device), data, gen, clamp=clamp)[0]
    else:
        z = init.detach().to(device).clone()
    half, quarter = len(data.sdf) // 2, len(data.sdf) // 8  # balanced rows: outside first, inside second
    phases = [(data.subset(torch.cat([torch.arange(quarter), half + torch.arange(quarter)]).to(device)), 10 * tol),
              (data, tol)] if quarter >= 256 else [(data, tol)]
    eye = torch.eye(L, device=device)
    a = torch.zeros(L, device=device) if anchor is None else anchor.detach().to(device)
    result = FitResult(z.cpu(), method="lm")
    t0 = time.perf_counter()
    _frozen(decoder)
    try:
        rows, stop_at = phases.pop(0)
        loss, pred, jac = _trial(decoder, z, rows, clamp, prior, a)
        result.losses.append(loss)
        mu, stalls, it = damping, 0, 0
        while it < iterations:
            if cancelled and cancelled():
                raise Cancelled()
            n = len(rows.sdf)
            J = jac()
            r = residuals(pred, rows, clamp)
            active = torch.where(rows.free, pred < rows.sdf, pred.abs() < clamp)  # where the clamp passes a gradient
            J = J * active[:, None]
            JtW = J.t() / r.abs().clamp(min=huber)
            H = JtW @ J / n + 2 * prior / L * eye
            g = JtW @ r / n + 2 * prior / L * (z - a)
            improved = False
            while not improved and mu < 1e8:
                step = torch.linalg.solve(H + mu * torch.diag(H.diagonal().clamp(min=1e-12)), -g)
                if promised(g, H, step) < FUTILE * stop_at * loss:
                    break  # converged: even the model promises less than a stall, and testing ever smaller steps costs
                    # a forward pass each (up to 17 of them at the end of every fit)
                new_loss, new_pred, new_jac = _trial(decoder, z + step, rows, clamp, prior, a)
                if new_loss < loss:
                    improved = True
                    mu = max(mu / 3, 1e-7)
                else:
                    mu, new_pred, new_jac = mu * 4, None, None  # its graph freed before the next trial's
            rel = (loss - new_loss) / max(loss, 1e-12) if improved else 0.0
            if improved:
                z, loss, pred, jac, it = z + step, new_loss, new_pred, new_jac, it + 1
                result.losses.append(loss)
                if progress:
                    progress(it - 1, loss, z.cpu())
            stalls = stalls + 1 if rel < stop_at else 0
            if stalls >= 2 or not improved:
                if not phases:
                    break
                rows, stop_at = phases.pop(0)  # converged on the subset: refine on every row
                (loss, pred, jac), stalls, mu = _trial(decoder, z, rows, clamp, prior, a), 0, damping
    finally:
        _unfreeze(decoder)
    result.code, result.iterations, result.seconds = z.detach().cpu(), len(result.losses) - 1, time.perf_counter() - t0
    return result


def fit(decoder: Decoder, data: FitData, method: str = "lm", init: torch.Tensor | None = None, **kwargs) -> FitResult:
    """``init`` starts LM (pass the training codes: it starts from the one that fits best); Adam
    keeps the official N(0, 0.01^2) start."""
    if method == "lm":
        return fit_lm(decoder, data, init=init, **kwargs)
    if method == "adam":
        return fit_adam(decoder, data, **kwargs)
    raise ValueError(f"unknown fitting method {method!r} (lm or adam)")
