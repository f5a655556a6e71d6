"""DeepSDF Explorer's toolkit: everything but the GUI, grouped by the flow of data.

Layers, lowest first; a module imports only from its own layer or a lower one (``tests/test_layout.py``
checks this, and that there are no import circles):

0. ``fileio``, ``jobs``: atomic writes, safe loading, devices, cancellation — used by every layer.
1. ``data``: meshes → signed-distance samples (procedural shapes, sign of triangle soups, official formats).
2. ``model``: the decoder, the model bundle and its training.
3. ``mesh``: codes → meshes (marching cubes, narrow band), interpolation, rendering.
4. ``fit``: codes for new samples (Levenberg–Marquardt, Adam), batch reconstruction.
5. ``scans``: depth images → samples, segments, poses and completed shapes.
6. ``evaluation``: metrics, the paper's experiments, benchmarks.
7. ``cli``: argument parsing; each subcommand calls one function above.
"""
