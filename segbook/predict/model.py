"""The trained models `segbook predict` applies: run folders, each checked against its receipt first.

A run folder is usable when its receipt verifies (`segbook verify`'s own check: every hash, the
reference labels, the metrics re-derived) and names a final checkpoint; several run folders must be
folds of one cell (same dataset, configuration, plans and trainer) to be ensembled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from segbook.core.errors import InvalidInput, UsageProblem
from segbook.core.hashing import sha256_file
from segbook.core.receipt import load_receipt
from segbook.verify import check_files, receipt_path
from segbook.verify.parts import receipt_parts


@dataclass(frozen=True)
class TrainedModel:
    run_dir: Path
    receipt_path: Path
    receipt_sha256: str
    task_id: str
    configuration: str
    plans: str
    trainer: str
    fold: str
    model_folder: Path  # nnU-Net's <trainer>__<plans>__<configuration> folder (dataset.json, plans.json, fold_*)
    checkpoint: Path  # its fold's checkpoint_final.pth, as the receipt names it
    tensor_sha256: str  # the final weights' tensor hash the receipt records
    dataset_json: dict
    threads: int | None  # the compute threads the run predicted its test cases with (same bits on CPU)

    @property
    def channels(self) -> dict:
        return self.dataset_json.get("channel_names") or self.dataset_json.get("modality") or {}

    @property
    def labels(self) -> dict:
        return self.dataset_json.get("labels") or {}

    def job_entry(self) -> dict:
        return {"folder": str(self.model_folder), "checkpoint": str(self.checkpoint), "trainer": self.trainer,
                "tensor_sha256": self.tensor_sha256}

    def record(self, verified: bool) -> dict:
        return {"run": str(self.run_dir), "from": "archive" if self.run_dir.is_file() else "run folder",
                "receipt": str(self.receipt_path), "receipt_sha256": self.receipt_sha256,
                "task_id": self.task_id, "configuration": self.configuration, "plans": self.plans,
                "trainer": self.trainer, "fold": self.fold, "final_weights_tensor_sha256": self.tensor_sha256,
                "verified": verified}


def _dataset_json(model_folder: Path, where: Path, hint: str | None = None) -> dict:
    try:
        return json.loads((model_folder / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{where} has no readable dataset.json ({type(exc).__name__})", hint=hint) from None


def _from_receipt(receipt: dict, receipt_file: Path, source: Path, fold: str, model_folder: Path, checkpoint: Path,
                  tensor_sha256: str, dataset_json: dict) -> TrainedModel:
    """The model a receipt describes; where its files are is the caller's (a run folder or an archive)."""
    configuration = receipt.get("configuration") or {}
    task_id = str((receipt.get("dataset") or {}).get("task_id"))
    return TrainedModel(source, receipt_file, sha256_file(receipt_file), task_id, str(configuration.get("name")),
                        str((configuration.get("plan") or {}).get("plans_name") or "nnUNetPlans"),
                        str(configuration.get("trainer")), fold, model_folder, checkpoint, tensor_sha256,
                        dataset_json, _threads(receipt))


def locate_model(run: Path) -> TrainedModel:
    """The model a run folder (or its receipt.json) holds; InputMissing / InvalidInput (65) otherwise."""
    path = receipt_path(Path(run))
    receipt = load_receipt(path)
    parts = receipt_parts(receipt, path)
    model_folder = parts.weights_file.parent.parent
    dataset_json = _dataset_json(model_folder, model_folder, hint="the run folder is incomplete: run the cell again")
    return _from_receipt(receipt, path, parts.run_dir, str((receipt.get("configuration") or {}).get("fold")),
                         model_folder, parts.weights_file, parts.final_weights, dataset_json)


def archived_models(root: Path, archive: Path) -> list[TrainedModel]:
    """The folds in a checked archive's model folder (segbook.predict.archive), each from its receipt."""
    from segbook.core.receipt import read_receipt_json  # noqa: PLC0415
    from segbook.predict.archive import FOLD_RECEIPT  # noqa: PLC0415

    dataset_json = _dataset_json(root, archive)
    models = []
    for receipt_file in sorted(root.glob(f"fold_*/{FOLD_RECEIPT}")):
        receipt = read_receipt_json(receipt_file)
        weights = (receipt.get("hashes") or {}).get("final_weights")
        if not isinstance(weights, str) or not isinstance((receipt.get("configuration") or {}).get("trainer"), str):
            raise InvalidInput(f"{archive}: {receipt_file.relative_to(root)} names no trainer or final weights")
        models.append(_from_receipt(receipt, receipt_file, archive, receipt_file.parent.name.removeprefix("fold_"),
                                    root, receipt_file.parent / "checkpoint_final.pth", weights, dataset_json))
    if not models:
        raise InvalidInput(f"{archive} holds no fold with a receipt", hint="make it with `segbook export`")
    return models


def _threads(receipt: dict) -> int | None:
    threads = (receipt.get("determinism") or {}).get("threads")
    return threads if isinstance(threads, int) and not isinstance(threads, bool) and threads > 0 else None


def unverified_reasons(model: TrainedModel, manifests_dir, progress) -> list[str]:
    """What `segbook verify` finds wrong with the model's run (empty: it verifies)."""
    findings = check_files(model.receipt_path, progress, manifests_dir=manifests_dir)
    return [f.describe() for f in findings if not f.ok]


def selected_folds(models: list[TrainedModel], folds: tuple[str, ...]) -> list[TrainedModel]:
    """The models of the folds asked for (all when none are), in the order asked; InvalidInput (65) names a
    fold the model does not have."""
    if not folds:
        return models
    by_fold = {m.fold: m for m in models}
    missing = [f for f in folds if f not in by_fold]
    if missing:
        raise InvalidInput(f"fold {', '.join(missing)} is not among the model's folds ({', '.join(by_fold)})",
                           hint=f"--folds takes some of: {', '.join(by_fold)}")
    return [by_fold[f] for f in dict.fromkeys(folds)]


def one_cell(models: list[TrainedModel]) -> None:
    """Several models are ensembled only as folds of one cell."""
    first = models[0]
    for other in models[1:]:
        for what in ("task_id", "configuration", "plans", "trainer"):
            if getattr(other, what) != getattr(first, what):
                raise UsageProblem(f"{other.run_dir} is {what} {getattr(other, what)}, {first.run_dir} is "
                                   f"{getattr(first, what)}: only folds of one cell can be ensembled",
                                   hint="give the run folders of one dataset and configuration (its folds)")
    folds = [m.fold for m in models]
    if len(set(folds)) != len(folds):
        raise UsageProblem(f"the same fold twice among the models ({', '.join(folds)})",
                           hint="give each fold's run folder once")
