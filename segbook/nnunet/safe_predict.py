"""Predict with a trained model folder, loading its checkpoint safely (the kit's nnUNetv2_predict).

nnU-Net's own predictor unpickles checkpoint_final.pth with full pickle semantics, so a file
planted in a run folder could run code. This entry point reads the checkpoint with the kit's
weights-only loader, checks it was written by the trainer the kit expects, builds the network
through that trainer class and hands everything to nnU-Net's predictor with
``manual_initialization``; the sliding-window prediction and export are nnU-Net's, unchanged.

    python -m segbook.nnunet.safe_predict -i IMAGES -o OUT -m MODEL_FOLDER -f FOLD --trainer NAME \
        --device cpu --threads 2

Exit codes: 0, or the kit's (65 unsafe/corrupt checkpoint, 66 missing) with a SEGBOOK-ERROR line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from segbook.core.errors import InputMissing, InvalidInput, SegbookError


def predictor_from(model_folder: Path, checkpoints: list[dict], trainer: str, *, tta: bool, device: str):
    """nnU-Net's predictor over checkpoints already read weights-only (one per fold: nnU-Net averages their
    softmax), the network built through the trainer class, with nnU-Net's defaults (half-patch steps,
    Gaussian weighting; mirroring unless `tta` is off)."""
    import torch  # noqa: PLC0415
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor  # noqa: PLC0415
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name  # noqa: PLC0415
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels  # noqa: PLC0415
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager  # noqa: PLC0415

    plans = PlansManager(json.loads((model_folder / "plans.json").read_text()))
    dataset_json = json.loads((model_folder / "dataset.json").read_text())
    first = checkpoints[0]
    configuration = plans.get_configuration(first["init_args"]["configuration"])
    trainer_class = recursive_find_trainer_class_by_name(trainer)
    network = trainer_class.build_network_architecture(
        plans, configuration, determine_num_input_channels(plans, configuration, dataset_json),
        plans.get_label_manager(dataset_json).num_segmentation_heads, enable_deep_supervision=False)
    network.load_state_dict(first["network_weights"])
    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=tta,
                                perform_everything_on_device=True, device=torch.device(device),
                                verbose=False, verbose_preprocessing=False, allow_tqdm=False)
    predictor.manual_initialization(network, plans, configuration, [c["network_weights"] for c in checkpoints],
                                    dataset_json, trainer, first.get("inference_allowed_mirroring_axes"))
    return predictor


def _build(model_folder: Path, fold: str, trainer: str, device: str):
    from segbook.models.checkpoint import read_training_checkpoint  # noqa: PLC0415

    path = model_folder / f"fold_{fold}" / "checkpoint_final.pth"
    if not path.is_file():
        raise InputMissing(f"no final checkpoint at {path}", hint="the training has not finished: rerun finetune")
    checkpoint = read_training_checkpoint(path)
    if checkpoint.get("trainer_name") != trainer:
        raise InvalidInput(f"{path} was written by {checkpoint.get('trainer_name')!r}, not {trainer}",
                           hint="pass --force to start the run over")
    return predictor_from(model_folder, [checkpoint], trainer, tta=True, device=device)


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segbook.nnunet.safe_predict",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("-i", dest="images", type=Path, required=True, help="folder of images to predict")
    parser.add_argument("-o", dest="output", type=Path, required=True, help="folder for the predictions")
    parser.add_argument("-m", dest="model_folder", type=Path, required=True,
                        help="nnU-Net's trainer output folder (<trainer>__<plans>__<configuration>)")
    parser.add_argument("-f", dest="fold", required=True, help="fold: all or 0-4")
    parser.add_argument("--trainer", required=True, help="trainer class the checkpoint must come from")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0, help="compute threads (0: torch's default)")
    ns = parser.parse_args(args)
    import torch  # noqa: PLC0415

    from segbook.nnunet.resumable import report_and_exit  # noqa: PLC0415 - imports torch

    if ns.threads:
        torch.set_num_threads(ns.threads)
    try:
        predictor = _build(ns.model_folder, ns.fold, ns.trainer, ns.device)
    except SegbookError as exc:
        report_and_exit(exc)
    ns.output.mkdir(parents=True, exist_ok=True)
    predictor.predict_from_files(str(ns.images), str(ns.output), save_probabilities=False, overwrite=True,
                                 num_processes_preprocessing=1, num_processes_segmentation_export=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
