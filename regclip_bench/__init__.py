"""regclip-bench: a distributed benchmark suite for δ-regularized gradient clipping (δ-GClip)."""

__version__ = "0.1.0"
