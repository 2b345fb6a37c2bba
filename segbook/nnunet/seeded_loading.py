"""Deterministic data loading for nnU-Net: every batch seeded by its index, read in a fixed order.

nnU-Net's default NonDetMultiThreadedAugmenter hands out whichever batch is ready first and
seeds nothing. Here every batch's randomness (which cases, where to crop, every augmentation)
comes from RNGs seeded with batch_seed(seed, stream, index) right before the batch is made, and
batchgenerators' MultiThreadedAugmenter reads its per-worker queues round-robin, so worker w of W
makes batches first+w, first+w+W, ... and they come out in index order.

Because a batch depends on its index only, a run resumed at batch k (any epoch, any iteration)
sees exactly the batches an uninterrupted run sees from k on: nothing random restarts. No
generator state needs saving; the checkpoint's epoch and iteration give the index.
"""

from __future__ import annotations

import hashlib
import signal

import torch
from batchgenerators.dataloading.multi_threaded_augmenter import MultiThreadedAugmenter
from batchgenerators.dataloading.single_threaded_augmenter import SingleThreadedAugmenter
from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader

from segbook.nnunet.determinism import seed_everything

TRAIN_STREAM, VAL_STREAM = 0, 1


def batch_seed(base_seed: int, stream: int, index: int) -> int:
    """A 31-bit seed per (run seed, data stream, batch index), well mixed and platform-free."""
    digest = hashlib.sha256(f"segbook-batch/1:{base_seed}:{stream}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


class SeededDataLoader(nnUNetDataLoader):
    """nnU-Net's loader; each batch is made under RNGs seeded from its own index.

    batchgenerators calls set_thread_id inside each worker before the first batch; the single-
    threaded path calls it with 0 in the trainer process.
    """

    def __init__(self, *args, base_seed: int, stream: int, first_index: int, stride: int, **kwargs):
        super().__init__(*args, **kwargs)
        self._base_seed = base_seed
        self._stream = stream
        self._first_index = first_index
        self._stride = max(1, stride)  # number of workers taking turns
        self._next_index = first_index

    def set_thread_id(self, thread_id):
        super().set_thread_id(thread_id)
        self._next_index = self._first_index + thread_id
        if self._stride > 1:  # in a worker process: share the cores, die with the default signals
            torch.set_num_threads(1)
            for signum in (signal.SIGTERM, signal.SIGUSR1):
                signal.signal(signum, signal.SIG_DFL)

    def generate_train_batch(self):
        seed_everything(batch_seed(self._base_seed, self._stream, self._next_index))
        self._next_index += self._stride
        return super().generate_train_batch()


def make_augmenters(train_loader: SeededDataLoader, val_loader: SeededDataLoader, workers: int, val_workers: int):
    """Ordered augmenters over the two loaders (built with stride = their worker counts)."""
    if workers == 0:
        train_loader.set_thread_id(0)
        val_loader.set_thread_id(0)
        return SingleThreadedAugmenter(train_loader, None), SingleThreadedAugmenter(val_loader, None)
    # worker seeds only seed numpy before set_thread_id; every batch reseeds anyway
    train = MultiThreadedAugmenter(train_loader, None, workers, num_cached_per_queue=2,
                                   seeds=list(range(workers)), pin_memory=False)
    val = MultiThreadedAugmenter(val_loader, None, val_workers, num_cached_per_queue=1,
                                 seeds=list(range(val_workers)), pin_memory=False)
    return train, val


def val_worker_count(workers: int) -> int:
    return max(1, workers // 2) if workers else 0
