"""Deterministic data loading for nnU-Net: seeded workers, batches consumed in a fixed order.

nnU-Net's default NonDetMultiThreadedAugmenter hands out whichever batch is ready first and
seeds nothing. batchgenerators' MultiThreadedAugmenter keeps one queue per worker and reads
them round-robin, so with seeded workers the batch sequence is the same on every run, at
nearly the multi-process throughput (the costly single-threaded augmenter is not needed).
"""

from __future__ import annotations

import torch
from batchgenerators.dataloading.multi_threaded_augmenter import MultiThreadedAugmenter
from batchgenerators.dataloading.single_threaded_augmenter import SingleThreadedAugmenter
from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader

from segbook.nnunet.determinism import seed_everything, worker_seed

TRAIN_STREAM, VAL_STREAM = 0, 1


class SeededDataLoader(nnUNetDataLoader):
    """nnU-Net's loader whose worker seeds numpy, torch and random from (seed, stream, worker).

    batchgenerators calls set_thread_id inside each worker process before the first batch;
    the v2 transforms draw from torch's RNG, which that library does not seed.
    """

    def __init__(self, *args, base_seed: int, stream: int, **kwargs):
        super().__init__(*args, **kwargs)
        self._base_seed = base_seed
        self._stream = stream

    def set_thread_id(self, thread_id):
        super().set_thread_id(thread_id)
        torch.set_num_threads(1)  # workers share the cores with the training process
        seed_everything(worker_seed(self._base_seed, self._stream, thread_id))


def make_augmenters(train_loader, val_loader, workers: int, base_seed: int):
    if workers == 0:
        train_loader.set_thread_id(0)
        val_loader.set_thread_id(0)
        return SingleThreadedAugmenter(train_loader, None), SingleThreadedAugmenter(val_loader, None)
    val_workers = max(1, workers // 2)
    train = MultiThreadedAugmenter(
        train_loader, None, workers, num_cached_per_queue=2,
        seeds=[worker_seed(base_seed, TRAIN_STREAM, i) for i in range(workers)], pin_memory=False,
    )
    val = MultiThreadedAugmenter(
        val_loader, None, val_workers, num_cached_per_queue=1,
        seeds=[worker_seed(base_seed, VAL_STREAM, i) for i in range(val_workers)], pin_memory=False,
    )
    return train, val
