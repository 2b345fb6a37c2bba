"""A brief, deterministic STU-Net-S pre-training on the CT-like phantoms.

It stands in for the TotalSegmentator pre-training (which took 4000 epochs on 1204 CTs): a
few dozen steps of plain torch, per-image z-score inputs as in the released plan, saved in
the official nnU-Net v1 checkpoint format so the kit's real loader reads it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.nn import functional

from segbook.demo.phantoms import UPSTREAM_LABELS, make_cases
from segbook.models.checkpoint import save_official_v1_checkpoint
from segbook.models.stunet import build_stunet

PRETRAIN_CASES = 8
PRETRAIN_STEPS = 40
PRETRAIN_STRIDES = [[2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [1, 1, 1]]  # 32x48x48 -> 2x3x3


def _zscore(image: np.ndarray) -> np.ndarray:
    image = image.astype(np.float32)
    return (image - image.mean()) / max(float(image.std()), 1e-6)


def _soft_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    probs = logits.softmax(1)
    onehot = functional.one_hot(target, probs.shape[1]).permute(0, 4, 1, 2, 3).float()
    dims = (0, 2, 3, 4)
    intersection = (probs * onehot).sum(dims)
    dice = (2 * intersection + 1e-5) / (probs.sum(dims) + onehot.sum(dims) + 1e-5)
    return 1 - dice[1:].mean()


def pretrain_stunet_s(target: Path, *, seed: int, steps: int = PRETRAIN_STEPS, progress=print) -> Path:
    """Pre-train STU-Net-S on CT-like phantoms and save it as an official v1 checkpoint."""
    torch.manual_seed(seed)
    cases = make_cases("ct", PRETRAIN_CASES, seed)
    images = torch.from_numpy(np.stack([_zscore(c.image) for c in cases.values()]))[:, None]
    labels = torch.from_numpy(np.stack([c.label.astype(np.int64) for c in cases.values()]))
    model = build_stunet("S", 1, len(UPSTREAM_LABELS), PRETRAIN_STRIDES, deep_supervision=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    order = np.random.default_rng(seed).permutation(np.arange(steps * 2) % PRETRAIN_CASES).reshape(steps, 2)
    losses = []
    model.train()
    for step, batch in enumerate(order, start=1):
        logits = model(images[batch])
        loss = functional.cross_entropy(logits, labels[batch]) + _soft_dice_loss(logits, labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if step % 10 == 0 or step == steps:
            progress(f"pre-train: step {step}/{steps}  loss {np.mean(losses[-10:]):.4f}")
    return save_official_v1_checkpoint(model.state_dict(), target, epoch=steps, train_losses=losses,
                                       initial_lr=3e-3, overwrite=True)
