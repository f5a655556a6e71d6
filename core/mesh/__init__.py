"""Codes to surfaces: torch marching cubes over a narrow band (``meshing``, ``mc_tables``), interpolation
between codes (``interpolate``) and off-screen pictures and movies (``render``). Imports ``core.model`` and
the layers below it."""
