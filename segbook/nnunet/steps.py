"""nnU-Net's three stages as the kit runs them: plan+preprocess, train, predict.

Each runs nnU-Net's own console script in a child process with the kit's environment.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from segbook.core.errors import InputMissing, InvalidInput
from segbook.core.fsio import atomic_write_json
from segbook.core.hashing import sha256_json
from segbook.core.locks import exclusive, lock_path
from segbook.core.run_state import describe_train_state, read_train_state
from segbook.nnunet.compat import check_nnunet_version
from segbook.nnunet.environment import nnunet_environment
from segbook.nnunet.process import ProgressSink, nnunet_executable, run_logged

CONFIGURATION = "3d_fullres"  # SegBook trains the full-resolution 3D configuration
PLANS = "nnUNetPlans"
STAMP = "segbook_stamp.json"


@dataclass(frozen=True)
class PlannedDataset:
    dataset_name: str  # e.g. Dataset999_SegBookDemo
    plans_path: Path
    plans_sha256: str
    reused: bool


def plans_hash(plans_path: Path) -> str:
    return sha256_json(json.loads(plans_path.read_text()))


def plan_and_preprocess(out_root: Path, dataset_name: str, dataset_sha256: str, *, processes: int,
                        log: Path, progress: ProgressSink, lock_mode: str = "flock",
                        verbose: bool = False) -> PlannedDataset:
    """Plan and preprocess once per dataset content; an unchanged dataset is skipped."""
    nnunet_version = check_nnunet_version()
    folder = out_root / "nnUNet_preprocessed" / dataset_name
    plans_path = folder / f"{PLANS}.json"
    wanted = {"dataset_sha256": dataset_sha256, "nnunetv2": nnunet_version, "configuration": CONFIGURATION}
    # one planner per dataset, whoever starts first (Slurm array tasks share the output root)
    with exclusive(lock_path(out_root, f"plan-{dataset_name}"), what=f"planning of {dataset_name}", mode=lock_mode,
                   on_wait=lambda holder: progress(f"plan: waiting for {describe_holder(holder)} to plan "
                                                   f"{dataset_name}")):
        stamp = folder / STAMP
        if plans_path.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == wanted:
            progress(f"plan: {dataset_name} already planned and preprocessed for this content (skipped)")
            return PlannedDataset(dataset_name, plans_path, plans_hash(plans_path), reused=True)
        shutil.rmtree(folder, ignore_errors=True)  # stale: another content or version
        dataset_id = str(int(dataset_name[len("Dataset"):len("Dataset") + 3]))
        progress(f"plan: nnU-Net plans and preprocesses {dataset_name} ({CONFIGURATION})")
        # nnU-Net 2.8.1 calls torch.set_num_threads(n_proc_DA) while planning: 0 would crash it
        env = nnunet_environment(out_root, out_root / "nnUNet_results", threads=None, data_workers=processes)
        argv = [nnunet_executable("nnUNetv2_plan_and_preprocess"), "-d", dataset_id, "-c", CONFIGURATION,
                "-np", str(processes), "--verify_dataset_integrity"]
        run_logged(argv, env, log, what="nnU-Net planning", progress=progress, verbose=verbose)
        if not plans_path.is_file():
            raise InvalidInput(f"nnU-Net wrote no plans for {dataset_name}", hint=f"see {log}")
        atomic_write_json(stamp, wanted)
    return PlannedDataset(dataset_name, plans_path, plans_hash(plans_path), reused=False)


def trainer_output_folder(results_dir: Path, dataset_name: str, trainer: str, fold: str) -> Path:
    return results_dir / dataset_name / f"{trainer}__{PLANS}__{CONFIGURATION}" / f"fold_{fold}"


def describe_holder(holder) -> str:
    return holder.describe() if holder is not None else "another process"


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


def train(out_root: Path, results_dir: Path, dataset_name: str, trainer: str, fold: str, *,
          run_dir: Path, device: str, env: dict, log: Path, progress: ProgressSink,
          verbose: bool = False) -> tuple[Path, str | None]:
    """Train (or continue) one fold; returns (checkpoint_final path, what earlier work was reused)."""
    folder = trainer_output_folder(results_dir, dataset_name, trainer, fold)
    final = folder / "checkpoint_final.pth"
    if final.is_file():
        progress("train: final checkpoint already there (skipped)")
        return final, "final checkpoint of an earlier invocation"
    resume = resume_point(folder, run_dir)
    argv = [nnunet_executable("nnUNetv2_train"), dataset_name, CONFIGURATION, fold, "-tr", trainer,
            "-p", PLANS, "-device", device]
    continued = None
    if resume is not None:
        argv.append("--c")
        continued = describe_train_state(read_train_state(run_dir))
        progress(f"train: continuing from {continued}")
    run_logged(argv, env, log, what="nnU-Net training", progress=progress, verbose=verbose)
    if not final.is_file():
        raise InvalidInput("nnU-Net training ended without a final checkpoint", hint=f"see {log}")
    return final, continued


def predict(images_dir: Path, target: Path, results_dir: Path, dataset_name: str, trainer: str, fold: str, *,
            device: str, threads: int | None, env: dict, log: Path, progress: ProgressSink,
            verbose: bool = False) -> Path:
    """Predict every image in images_dir into target (written beside, then renamed).

    Runs the kit's safe_predict (nnU-Net's predictor, the checkpoint read weights-only)."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model_folder = trainer_output_folder(results_dir, dataset_name, trainer, fold).parent
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
