"""Depth images to shapes, in the order a scan flows: loading, cameras and samples (``scan``), sensor-like
scenes for testing (``scene``), floor, planes and objects (``segment``), Sim(3) pose with the code
(``pose``), and the whole completion of one image (``completion``). Imports ``core.fit`` and the layers
below it."""
