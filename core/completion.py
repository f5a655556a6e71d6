"""Shape completion: one depth scan (optionally with injected noise) -> fitted code -> mesh."""
from __future__ import annotations

from dataclasses import dataclass, replace

from .bundle import Bundle
from .fit import FitResult, fit
from .meshing import SurfaceMesh, mesh_code
from .scan import Scan, add_noise, completion_samples


@dataclass
class Completion:
    scan: Scan  # the scan as fitted (noise included)
    result: FitResult
    mesh: SurfaceMesh


def noisy(scan: Scan, sigma: float, kind: str = "depth", seed: int = 0) -> Scan:
    """The scan with Gaussian noise on depth or inverse depth (sigma 0 returns it unchanged)."""
    if sigma == 0:
        return scan
    return replace(scan, depth=add_noise(scan.depth, sigma, kind, seed))


def complete(bundle: Bundle, scan: Scan, method: str = "lm", res: int = 128, noise: float = 0.0,
             noise_kind: str = "depth", seed: int = 0, eta: float = 0.02, **fit_kwargs) -> Completion:
    scan = noisy(scan, noise, noise_kind, seed)
    data = completion_samples(scan, eta=eta, seed=seed)
    result = fit(bundle.decoder, data, method, init=bundle.latents.codes, **fit_kwargs)
    return Completion(scan, result, mesh_code(bundle.decoder, result.code, res))

