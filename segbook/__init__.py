"""SegBook kit: reproduce the SegBook transfer-learning benchmark (STU-Net on nnU-Net v2)."""

__version__ = "0.1.0"
