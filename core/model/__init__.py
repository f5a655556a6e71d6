"""The auto-decoder: the network and its latent table (``decoder``), the single-file model bundle and the
import of official experiment folders (``bundle``), and the resumable training loop (``train``). Imports
``core.data`` (samples and splits) and the base modules, nothing above."""
