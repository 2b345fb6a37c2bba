"""Behaviour every SegBook trainer adds to nnU-Net's: schedule, seeds, data, progress, resuming.

Loaded only inside nnU-Net's training/prediction processes (nnU-Net imports the trainer
classes), where the kit has written a TrainConfig and named it in SEGBOOK_TRAIN_CONFIG.
"""

from __future__ import annotations

import time

import torch
from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

from segbook.core import childreport
from segbook.core.errors import SegbookError
from segbook.nnunet.determinism import enable_deterministic_algorithms, seed_everything
from segbook.nnunet.resumable import ResumableTraining, report_and_exit
from segbook.nnunet.seeded_loading import (
    TRAIN_STREAM,
    VAL_STREAM,
    SeededDataLoader,
    make_augmenters,
    val_worker_count,
)
from segbook.nnunet.train_config import load_from_environment


class SegbookTrainerMixin(ResumableTraining):
    """Put first in the bases, before nnUNetTrainer."""

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):  # nnU-Net's signature
        try:
            context = load_from_environment()
            self.segbook, self.segbook_run_dir = context.config, context.run_dir
            self.segbook_stop_after = context.stop_after_iteration
        except SegbookError as exc:
            report_and_exit(exc)
        if self.segbook.options.deterministic:
            enable_deterministic_algorithms(self.segbook.threads)
            assert self.segbook.seed is not None  # the kit gives every deterministic run a seed
            seed_everything(self.segbook.seed)  # before the network exists: weight init is seeded
        elif self.segbook.threads:
            torch.set_num_threads(self.segbook.threads)
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = self.segbook.options.epochs
        self.num_iterations_per_epoch = self.segbook.options.iterations_per_epoch
        self.num_val_iterations_per_epoch = self.segbook.val_iterations_per_epoch
        self.initial_lr = self.segbook.initial_lr
        # a short run still leaves checkpoints to resume from; long runs keep nnU-Net's 50
        self.save_every = max(1, min(50, self.segbook.options.epochs // 5))
        self._segbook_epoch_started: float | None = None

    # --- deterministic data pipeline -------------------------------------------------------
    def get_dataloaders(self):
        if not self.segbook.options.deterministic:
            return super().get_dataloaders()
        if self.dataset_class is None:
            self.dataset_class = infer_dataset_class(self.preprocessed_dataset_folder)
        patch_size = self.configuration_manager.patch_size
        ds_scales = self._get_deep_supervision_scales()
        rotation, dummy_2d, initial_patch_size, mirror_axes = \
            self.configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        labels = self.label_manager
        regions = labels.foreground_regions if labels.has_regions else None
        tr_transforms = self.get_training_transforms(
            patch_size, rotation, ds_scales, mirror_axes, dummy_2d,
            use_mask_for_norm=self.configuration_manager.use_mask_for_norm, is_cascaded=self.is_cascaded,
            foreground_labels=labels.foreground_labels, regions=regions, ignore_label=labels.ignore_label)
        val_transforms = self.get_validation_transforms(
            ds_scales, is_cascaded=self.is_cascaded, foreground_labels=labels.foreground_labels,
            regions=regions, ignore_label=labels.ignore_label)
        dataset_tr, dataset_val = self.get_tr_and_val_datasets()
        common = dict(label_manager=labels, oversample_foreground_percent=self.oversample_foreground_percent,
                      sampling_probabilities=None, pad_sides=None,
                      probabilistic_oversampling=self.probabilistic_oversampling, base_seed=self.segbook.seed)
        workers = self.segbook.data_workers
        first_train, first_val = self.first_batch_indices()  # where a resumed run left the data streams
        dl_tr = SeededDataLoader(dataset_tr, self.batch_size, initial_patch_size, patch_size,
                                 transforms=tr_transforms, stream=TRAIN_STREAM, first_index=first_train,
                                 stride=max(1, workers), **common)
        dl_val = SeededDataLoader(dataset_val, self.batch_size, patch_size, patch_size,
                                  transforms=val_transforms, stream=VAL_STREAM, first_index=first_val,
                                  stride=max(1, val_worker_count(workers)), **common)
        # no warm-up batch (nnU-Net draws one to start its workers): every batch drawn is used
        return make_augmenters(dl_tr, dl_val, workers, val_worker_count(workers))

    def on_train_start(self):
        if self.segbook.options.deterministic:  # nnU-Net's run_training turns cudnn.benchmark back on
            enable_deterministic_algorithms(self.segbook.threads)
        super().on_train_start()

    # --- progress the kit can render ---------------------------------------------------------
    def on_epoch_start(self):
        self._segbook_epoch_started = time.perf_counter()
        super().on_epoch_start()

    def on_epoch_end(self):
        epoch = self.current_epoch
        super().on_epoch_end()
        seconds = time.perf_counter() - (self._segbook_epoch_started or time.perf_counter())
        record = {
            "epoch": epoch + 1,
            "epochs": self.num_epochs,
            "train_loss": _last(self.logger, "train_losses"),
            "val_loss": _last(self.logger, "val_losses"),
            "pseudo_dice": _last(self.logger, "mean_fg_dice"),
            "seconds": round(seconds, 3),
        }
        print(childreport.progress_line(record), flush=True)

    # --- SegBook evaluates on its held-out test split, not on nnU-Net's fold validation ----
    def perform_actual_validation(self, save_probabilities: bool = False):
        if self.segbook.run_validation:
            return super().perform_actual_validation(save_probabilities)
        self.print_to_log_file("segbook: nnU-Net's fold validation skipped (the kit evaluates the test split)")
        return None


def _last(logger, key):
    try:
        value = logger.get_value(key, step=-1)
    except (KeyError, IndexError):
        return None
    return None if value is None else round(float(value), 6)
