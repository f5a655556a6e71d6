"""Measuring: surface metrics (``metrics``), the paper's experiments and ours as tables and plots
(``experiments``), and the ``deepsdf bench`` timings (``bench``). May import any layer but ``cli``."""
