"""Training that survives preemption and resumes to the same bits.

What the kit's trainers add to nnU-Net's training loop (a mixin placed before nnUNetTrainer):

- **Checkpoint on a stop signal.** SIGTERM, SIGUSR1 (Slurm's warning) and SIGINT only set a
  flag. After the current iteration the trainer writes checkpoint_latest.pth (atomically) holding
  the position inside the epoch, records it in train_state.json, and exits 75.
- **Checkpoint on a timer** (TrainingOptions.checkpoint_minutes), whatever nnU-Net's every-50-epochs
  rule says, so a node failure loses at most that much work.
- **Resume inside an epoch.** A checkpoint written mid-epoch holds the losses of the iterations
  already done; the resumed loop continues with the next iteration. Data for every batch derive
  from (seed, stream, batch index) alone (see seeded_loading), so batch k of epoch e is the same
  whether or not the run stopped in between: weights end bit-identical in deterministic mode.
- **Safe loading.** nnU-Net unpickles its checkpoints fully; here they are read with the kit's
  weights-only loader, so a pickle planted in a run folder never runs.

Failures the kit must word (unreadable checkpoint, a full disk) go out as a SEGBOOK-ERROR line and an
exit code. Whatever ends the loop, the augmentation workers are stopped first: otherwise the
interpreter waits on them at exit, for ever (a full disk used to hang a cell until its time limit).
"""

from __future__ import annotations

import copy
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from segbook.core import childreport
from segbook.core.errors import ExitCode, InvalidInput, SegbookError, disk_error, disk_full_error
from segbook.core.fsio import atomic_write_json
from segbook.core.run_state import TRAIN_STATE_NAME
from segbook.core.timefmt import now_iso
from segbook.models.checkpoint_integrity import check_seal, sealed
from segbook.models.official_format import atomic_torch_save

if TYPE_CHECKING:
    from segbook.nnunet.train_config import TrainConfig

PARTIAL_KEY = "segbook_partial_epoch"  # extra checkpoint entry: {"epoch", "losses"} of an unfinished epoch
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
RESUME_POINTS = ("checkpoint_latest.pth", "checkpoint_final.pth")  # the files train_state.json may name
DISK_FULL_HINT = ("free space (or quota, or raise the file-size limit) where the run folder lives, then run the "
                  "same command again: it continues from the last complete checkpoint")


def report_and_exit(exc: SegbookError) -> None:
    """Tell the kit what went wrong (two-line message) and leave with the matching exit code."""
    print(childreport.error_line(int(exc.exit_code), exc.message, exc.hint), flush=True)
    raise SystemExit(int(exc.exit_code))


class ResumableTraining:
    """Mixin; expects self.segbook (TrainConfig) and self.segbook_run_dir set by the kit's mixin."""

    _segbook_partial: dict | None = None
    _segbook_stop: int | None = None
    _segbook_last_save: float = 0.0
    segbook_stop_after: int | None = None

    if TYPE_CHECKING:  # what the mixin uses of nnUNetTrainer (after it in every trainer's bases; untyped)
        segbook: TrainConfig  # set by SegbookTrainerMixin
        segbook_run_dir: Path
        output_folder: str
        current_epoch: int
        num_epochs: int
        num_iterations_per_epoch: int
        num_val_iterations_per_epoch: int
        local_rank: int
        is_ddp: bool
        disable_checkpointing: bool
        was_initialized: bool
        network: Any  # the module, DDP around it, or torch.compile's wrapper
        optimizer: torch.optim.Optimizer
        grad_scaler: torch.amp.GradScaler | None
        logger: Any  # nnU-Net's MetaLogger
        dataloader_train: Any
        dataloader_val: Any
        my_init_kwargs: dict
        _best_ema: float | None
        inference_allowed_mirroring_axes: tuple[int, ...] | None

        def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                     device: torch.device = ...) -> None: ...

        def initialize(self) -> None: ...

        def print_to_log_file(self, *args: object, also_print_to_console: bool = True,
                              add_timestamp: bool = True) -> None: ...

        def perform_actual_validation(self, save_probabilities: bool = False) -> None: ...

    # --- the loop ------------------------------------------------------------------------------
    def run_training(self):
        try:
            self._segbook_training_loop()
        except SegbookError as exc:
            self._segbook_stop_loaders()
            report_and_exit(exc)
        except BaseException as exc:
            self._segbook_stop_loaders()
            full = disk_error(exc)
            if full is not None:
                report_and_exit(disk_full_error(full, DISK_FULL_HINT, str(full.filename or self.output_folder)))
            raise

    def _segbook_training_loop(self):
        remove_partial_checkpoints(Path(self.output_folder))
        self.on_train_start()
        self._segbook_listen_for_stop()
        self._segbook_last_save = time.monotonic()
        partial, self._segbook_partial = self._segbook_partial, None
        for epoch in range(self.current_epoch, self.num_epochs):
            self.on_epoch_start()
            self.on_train_epoch_start()
            outputs = _restored_outputs(partial) if partial and partial["epoch"] == epoch else []
            while len(outputs) < self.num_iterations_per_epoch:
                outputs.append(self.train_step(next(self.dataloader_train)))
                self._segbook_after_iteration(outputs)
            self.on_train_epoch_end(outputs)
            with torch.no_grad():
                self.on_validation_epoch_start()
                val_outputs = []
                for _ in range(self.num_val_iterations_per_epoch):
                    val_outputs.append(self.validation_step(next(self.dataloader_val)))
                    if self._segbook_stop is not None:  # validation is redone on resume: cheap
                        self._segbook_checkpoint_and_exit(outputs)
                self.on_validation_epoch_end(val_outputs)
            self.on_epoch_end()
        self.on_train_end()

    def first_batch_indices(self) -> tuple[int, int]:
        """Index of the next training and validation batch (the data streams' positions)."""
        done = 0
        if self._segbook_partial and self._segbook_partial["epoch"] == self.current_epoch:
            done = len(self._segbook_partial["losses"])
        return (self.current_epoch * self.num_iterations_per_epoch + done,
                self.current_epoch * self.num_val_iterations_per_epoch)

    # --- stopping ------------------------------------------------------------------------------
    def _segbook_listen_for_stop(self) -> None:
        # after on_train_start: nnU-Net's own workers are forked by then and keep default handlers
        def on_stop(signum, frame):
            if self._segbook_stop is None:
                self._segbook_stop = signum
        for signum in STOP_SIGNALS:
            signal.signal(signum, on_stop)

    def _segbook_after_iteration(self, outputs: list[dict]) -> None:
        done = self.current_epoch * self.num_iterations_per_epoch + len(outputs)
        if self.segbook_stop_after is not None and done == self.segbook_stop_after:
            self._segbook_stop = signal.SIGUSR1  # a drill: exactly what a real SIGUSR1 here would do
        if self._segbook_stop is not None:
            self._segbook_checkpoint_and_exit(outputs)
        minutes = self.segbook.options.checkpoint_minutes
        if minutes and time.monotonic() - self._segbook_last_save >= minutes * 60:
            self._segbook_save_partial(outputs)

    def _segbook_save_partial(self, outputs: list[dict]) -> None:
        self._segbook_partial_now: dict | None = {"epoch": self.current_epoch,
                                     "losses": [float(np.asarray(o["loss"])) for o in outputs]}
        try:
            self.save_checkpoint(str(Path(self.output_folder) / "checkpoint_latest.pth"))
        finally:
            self._segbook_partial_now = None

    def _segbook_checkpoint_and_exit(self, outputs: list[dict]) -> None:
        assert self._segbook_stop is not None  # called only once a stop signal is recorded
        name = signal.Signals(self._segbook_stop).name
        self._segbook_save_partial(outputs)
        self.print_to_log_file(f"segbook: {name} received: checkpoint written at epoch {self.current_epoch}, "
                               f"iteration {len(outputs)}; exiting 75 (rerun continues)",
                               also_print_to_console=True)
        self._segbook_stop_loaders()
        sys.stdout.flush()
        raise SystemExit(int(ExitCode.INTERRUPTED))

    def _segbook_stop_loaders(self) -> None:
        """Stop nnU-Net's augmentation workers (once): the interpreter would wait on them at exit."""
        if getattr(self, "_segbook_loaders_stopped", False):
            return
        self._segbook_loaders_stopped = True
        for loader in (getattr(self, "dataloader_train", None), getattr(self, "dataloader_val", None)):
            finish = getattr(loader, "_finish", None)
            if finish is not None:
                finish()

    # --- checkpoints ---------------------------------------------------------------------------
    def save_checkpoint(self, filename: str) -> None:
        if self.local_rank != 0:
            return
        if self.disable_checkpointing:
            self.print_to_log_file("No checkpoint written, checkpointing is disabled")
            return
        partial = getattr(self, "_segbook_partial_now", None)
        network = self.network.module if self.is_ddp else self.network
        network = getattr(network, "_orig_mod", network)  # torch.compile wrapper
        logging = self.logger.get_checkpoint()
        if partial is not None:  # drop what on_epoch_start logged for the unfinished epoch: relogged on resume
            logging = {key: list(values)[:self.current_epoch] for key, values in logging.items()}
        checkpoint = {
            "network_weights": network.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "grad_scaler_state": self.grad_scaler.state_dict() if self.grad_scaler is not None else None,
            "logging": copy.deepcopy(logging),
            "_best_ema": self._best_ema,
            # nnU-Net stores the epoch to start from: the next one after a finished epoch
            "current_epoch": self.current_epoch + (0 if partial is not None else 1),
            "init_args": self.my_init_kwargs,
            "trainer_name": self.__class__.__name__,
            "inference_allowed_mirroring_axes": self.inference_allowed_mirroring_axes,
        }
        if partial is not None:
            checkpoint[PARTIAL_KEY] = partial
        try:
            atomic_torch_save(sealed(checkpoint), filename, overwrite=True)
        except (OSError, RuntimeError) as exc:  # torch's zip writer wraps the OSError in a RuntimeError
            full = disk_error(exc)
            if full is None:
                raise
            raise disk_full_error(full, DISK_FULL_HINT, filename) from exc
        name = Path(filename).name
        if name in RESUME_POINTS:
            self._segbook_last_save = time.monotonic()
            self._segbook_record_train_state(name, checkpoint["current_epoch"],
                                             len(partial["losses"]) if partial else 0)

    def _segbook_record_train_state(self, name: str, epoch: int, iteration: int) -> None:
        atomic_write_json(self.segbook_run_dir / TRAIN_STATE_NAME, {
            "checkpoint": name, "epoch": epoch, "iteration": iteration, "epochs": self.num_epochs,
            "iterations_per_epoch": self.num_iterations_per_epoch, "written": now_iso(),
        })

    def load_checkpoint(self, filename_or_checkpoint) -> None:
        from segbook.models.checkpoint import read_training_checkpoint  # noqa: PLC0415

        if not self.was_initialized:
            self.initialize()
        where = filename_or_checkpoint if isinstance(filename_or_checkpoint, str | Path) else "(in memory)"
        try:
            checkpoint = (read_training_checkpoint(filename_or_checkpoint)
                          if isinstance(filename_or_checkpoint, str | Path) else dict(filename_or_checkpoint))
            check_seal(checkpoint, where)
            if checkpoint.get("trainer_name") not in (None, self.__class__.__name__):
                raise InvalidInput(f"{where} was written by {checkpoint.get('trainer_name')}, "
                                   f"not {self.__class__.__name__}", hint="pass --force to start the run over")
            try:
                self._segbook_restore(checkpoint)
            except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
                raise InvalidInput(f"checkpoint {where} cannot be resumed from: {type(exc).__name__}: {exc}"[:300],
                                   hint="pass --force to start the run over") from exc
        except SegbookError as exc:
            report_and_exit(exc)

    def _segbook_restore(self, checkpoint: dict) -> None:
        weights = {(k[len("module."):] if k.startswith("module.") else k): v
                   for k, v in checkpoint["network_weights"].items()}
        network = self.network.module if self.is_ddp else self.network
        getattr(network, "_orig_mod", network).load_state_dict(weights)
        self.my_init_kwargs = checkpoint["init_args"]
        self.current_epoch = int(checkpoint["current_epoch"])
        self.logger.load_checkpoint(checkpoint["logging"])
        self._best_ema = checkpoint["_best_ema"]
        self.inference_allowed_mirroring_axes = checkpoint.get("inference_allowed_mirroring_axes",
                                                               self.inference_allowed_mirroring_axes)
        self.optimizer.load_state_dict(checkpoint["optimizer_state"])
        if self.grad_scaler is not None and checkpoint.get("grad_scaler_state") is not None:
            self.grad_scaler.load_state_dict(checkpoint["grad_scaler_state"])
        self._segbook_partial = checkpoint.get(PARTIAL_KEY)
        where = f"epoch {self.current_epoch}"
        if self._segbook_partial:
            where += f", iteration {len(self._segbook_partial['losses'])}"
        self.print_to_log_file(f"segbook: continuing at {where}", also_print_to_console=True)


def remove_partial_checkpoints(folder: Path) -> list[Path]:
    """Temporary checkpoint files a killed run left (SIGKILL mid-write: up to 11.7 GB for STU-Net-H).
    Only this run writes in its fold folder (the run lock is held), so any such file is dead."""
    removed = []
    for leftover in sorted(folder.glob(".checkpoint_*.pth.*.tmp")) if folder.is_dir() else []:
        if leftover.is_file() and not leftover.is_symlink():
            leftover.unlink()
            removed.append(leftover)
    return removed


def _restored_outputs(partial: dict) -> list[dict]:
    # nnU-Net's train_step returns the loss as a 0-d float32 array; keep the type so the epoch's
    # mean loss is computed exactly as in an uninterrupted run
    return [{"loss": np.asarray(loss, dtype=np.float32)} for loss in partial["losses"]]


__all__ = ["ResumableTraining", "report_and_exit"]
