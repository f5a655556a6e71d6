"""Shapes to training data: procedural shape families (``shapes``), the inside/outside sign of any
triangle soup (``sign``), and signed-distance sampling with the official DeepSDF files — SdfSamples
``.npz``, split JSON, normalisation (``samples``). Imports only ``core.fileio`` and ``core.jobs``."""
