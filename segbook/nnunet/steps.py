"""nnU-Net's three stages as the kit runs them: plan+preprocess, train, predict.

Each runs nnU-Net's own console script in a child process with the kit's environment.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from segbook.core.errors import InputMissing, InternalFailure
from segbook.core.run_state import describe_train_state, read_train_state
from segbook.nnunet.environment import nnunet_environment
from segbook.nnunet.process import ProgressSink, nnunet_executable, run_logged

CONFIGURATION = "3d_fullres"  # SegBook trains the full-resolution 3D configuration


def trainer_output_folder(results_dir: Path, dataset_name: str, trainer: str, plans: str, fold: str) -> Path:
    return results_dir / dataset_name / f"{trainer}__{plans}__{CONFIGURATION}" / f"fold_{fold}"


def resume_point(folder: Path, run_dir: Path) -> Path | None:
    """The checkpoint this run must continue from, None for a fresh start; never a silent restart.

    train_state.json (written by the trainer with every resume point) names the checkpoint; if it
    is gone the run stops (66) instead of training again from the pre-trained weights."""
    state = read_train_state(run_dir)
    latest = folder / "checkpoint_latest.pth"
    if state is not None and state.get("checkpoint") == latest.name:
        if not latest.is_file():
            raise InputMissing(f"this run was interrupted at {describe_train_state(state)}, but {latest} is gone",
                               hint="restore the file to continue, or pass --force to start the run over")
        return latest
    return latest if latest.is_file() else None  # a run from before train_state.json existed


def train(out_root: Path, results_dir: Path, dataset_name: str, trainer: str, plans: str, fold: str, *,
          run_dir: Path, device: str, env: dict, log: Path, progress: ProgressSink,
          verbose: bool = False) -> tuple[Path, str | None]:
    """Train (or continue) one fold; returns (checkpoint_final path, what earlier work was reused)."""
    folder = trainer_output_folder(results_dir, dataset_name, trainer, plans, fold)
    final = folder / "checkpoint_final.pth"
    if final.is_file():
        progress("train: final checkpoint already there (skipped)")
        return final, "final checkpoint of an earlier invocation"
    resume = resume_point(folder, run_dir)
    argv = [nnunet_executable("nnUNetv2_train"), dataset_name, CONFIGURATION, fold, "-tr", trainer,
            "-p", plans, "-device", device]
    continued = None
    if resume is not None:
        argv.append("--c")
        continued = describe_train_state(read_train_state(run_dir))
        progress(f"train: continuing from {continued}")
    run_logged(argv, env, log, what="nnU-Net training", progress=progress, verbose=verbose)
    if not final.is_file():
        raise InternalFailure("nnU-Net training ended without a final checkpoint", hint=f"see {log}")
    return final, continued


def predict(images_dir: Path, target: Path, results_dir: Path, dataset_name: str, trainer: str, plans: str,
            fold: str, *,
            device: str, threads: int | None, env: dict, log: Path, progress: ProgressSink,
            verbose: bool = False) -> Path:
    """Predict every image in images_dir into target (written beside, then renamed).

    Runs the kit's safe_predict (nnU-Net's predictor, the checkpoint read weights-only)."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model_folder = trainer_output_folder(results_dir, dataset_name, trainer, plans, fold).parent
    argv = [sys.executable, "-m", "segbook.nnunet.safe_predict", "-i", str(images_dir), "-o", str(partial),
            "-m", str(model_folder), "-f", fold, "--trainer", trainer, "--device", device,
            "--threads", str(threads or 0)]
    progress(f"predict: {len(list(images_dir.glob('*')))} test image file(s)")
    run_logged(argv, env, log, what="nnU-Net prediction", progress=progress, verbose=verbose)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def training_environment(out_root: Path, results_dir: Path, train_config: Path, *, threads: int,
                         data_workers: int, deterministic: bool) -> dict:
    return nnunet_environment(out_root, results_dir, threads=threads, data_workers=data_workers,
                              train_config=train_config, deterministic=deterministic)
