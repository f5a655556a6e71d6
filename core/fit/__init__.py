"""Codes for new data: Levenberg–Marquardt and the paper's Adam fit of a latent code to SDF samples
(``latent``), and batch reconstruction of a split (``reconstruct``). Imports ``core.mesh`` and the layers
below it."""
