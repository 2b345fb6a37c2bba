"""Seeding and deterministic switches, for the trainer process and its augmentation workers."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def enable_deterministic_algorithms(threads: int) -> None:
    """Fixed thread count (reductions depend on it) and deterministic kernels only."""
    torch.set_num_threads(threads)
    # warn_only: a few CUDA kernels (e.g. nearest-upsampling backward) have no deterministic
    # variant; on GPU the promise is a tolerance (documented), on CPU every op used is deterministic
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True

