"""The stages of `segbook finetune` between nnU-Net's own steps: data in, results out."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from segbook.core.errors import InputMissing, InternalFailure, Interrupted, OutputBlocked, UsageProblem
from segbook.core.hashing import image_content_hash
from segbook.core.locks import exclusive, lock_path
from segbook.core.run_state import describe_train_state, read_train_state
from segbook.nnunet.planning import PlanChoice
from segbook.nnunet.steps import predict, training_environment
from segbook.nnunet.steps import train as nnunet_train
from segbook.nnunet.train_config import TrainConfig

if TYPE_CHECKING:  # for annotations only: the catalog loads lazily (see locate_dataset)
    from segbook.catalog.manifest import DatasetManifest
    from segbook.core.splits import Split

# Steps per epoch of nnU-Net's own validation pass, as a share of the training iterations.
VAL_ITERATION_SHARE = 0.2


class Timings:
    """Wall time per stage, announced as each stage starts."""

    def __init__(self, progress):
        self.seconds: dict[str, float] = {}
        self._progress = progress

    @contextmanager
    def stage(self, name: str):
        self._progress(f"== {name}")
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = round(time.monotonic() - started, 3)


@dataclass(frozen=True)
class Dataset:
    task_id: str
    nnunet_id: int
    display_name: str
    source: str  # demo | catalog | path
    dataset_name: str  # DatasetNNN_Name in nnUNet_raw
    dataset_dir: Path
    labels: dict[int, str]
    num_channels: int
    split: Split
    dataset_sha256: str
    lock_sha256: str | None
    near_duplicates: tuple = ()  # (case, case, score) warnings from prepare
    licence: str = "unknown"  # the manifest's source licence and access: they travel into the receipt
    access: str = "unknown"

    @property
    def test_images(self) -> Path:
        return self.dataset_dir / "imagesTs"

    @property
    def test_labels(self) -> Path:
        return self.dataset_dir / "labelsTs"


@dataclass(frozen=True)
class DatasetSource:
    """Which dataset a request means and where its raw data are: known before any work is done."""

    manifest: DatasetManifest
    raw: Path | None  # None for the demo until its sources are generated
    source: str  # demo | catalog | path
    lock_path: Path | None  # where a folder dataset's lock lives (None: the manifest's own)

    @property
    def task_id(self) -> str:
        return self.manifest.task_id


def locate_dataset(request) -> DatasetSource:
    """Find the manifest and raw data for request.dataset (cheap: nothing is read or written)."""
    from segbook.catalog import load_catalog  # noqa: PLC0415
    from segbook.demo.sources import DEMO_TASK_ID  # noqa: PLC0415

    candidate = Path(request.dataset)
    if candidate.is_dir():
        from segbook.convert.user_manifest import manifest_for_folder  # noqa: PLC0415

        manifest = manifest_for_folder(candidate)
        folder_lock = None
        if manifest.path is None or not manifest.path.is_file():
            # a manifest made in memory: pin under the output root (the raw folder may be read-only)
            folder_lock = request.out_root / "locks" / f"{manifest.task_id}.lock"
        return DatasetSource(manifest, candidate, "path", folder_lock)
    manifest = load_catalog(request.settings.manifests_dir).get(request.dataset)
    if manifest.task_id == DEMO_TASK_ID:
        return DatasetSource(manifest, request.raw, "demo", None)
    if request.raw is None:
        homepage = (manifest.source or {}).get("homepage") or "the dataset's homepage"
        raise InputMissing(f"{manifest.task_id} needs its downloaded data: pass --raw DIR",
                           hint=f"download it from {homepage} (most need a registration), then --raw")
    return DatasetSource(manifest, request.raw, "catalog", None)


def choose_plan(manifest, requested: str) -> PlanChoice:
    """The paper's plan where the manifest has one (the default), else nnU-Net's own."""
    reference = manifest.reference_plan
    if requested == "paper" and not reference:
        raise UsageProblem(f"{manifest.task_id} has no reference plan from the paper",
                           hint="use --plan nnunet (or leave --plan out) for this dataset")
    if requested == "nnunet" or not reference:
        return PlanChoice("nnunet")
    patch, spacing = reference["patch"], reference["spacing"]  # three numbers each: the catalog schema checks
    return PlanChoice("paper", (int(patch[0]), int(patch[1]), int(patch[2])),
                      (float(spacing[0]), float(spacing[1]), float(spacing[2])))


def prepare(request, located: DatasetSource, progress) -> Dataset:
    """Convert, hash, split and check the dataset against its lock (reused when unchanged)."""
    from segbook.convert.prepare import PrepareOptions, prepare_dataset  # noqa: PLC0415
    from segbook.demo.sources import ensure_demo_sources  # noqa: PLC0415

    manifest, raw = located.manifest, located.raw
    if raw is None:  # the demo: generated on first use, once (concurrent demo cells share the root)
        with exclusive(lock_path(request.out_root, "demo-sources"), what="generation of the demo data",
                       mode=request.settings.lock_mode):
            raw = ensure_demo_sources(request.out_root, progress)
    if not Path(raw).exists():
        raise InputMissing(f"raw data folder {raw} does not exist")
    prepared = prepare_dataset(manifest, Path(raw), request.out_root, PrepareOptions(
        lock=request.lock, force=request.force, lock_file=located.lock_path,
        command=" ".join(request.command) or None, lock_mode=request.settings.lock_mode), progress=progress)
    progress(f"prepare: {prepared.dataset_name}: {len(prepared.split.train)} training, "
             f"{len(prepared.split.test)} held-out test cases (split {prepared.split.sha256[:12]})")
    return Dataset(
        task_id=manifest.task_id, nnunet_id=int(manifest.nnunet_id), display_name=manifest.display_name,
        source=located.source, dataset_name=prepared.dataset_name, dataset_dir=Path(prepared.dataset_dir),
        labels={int(k): v for k, v in manifest.labels.items()}, num_channels=len(manifest.channels),
        split=prepared.split,
        dataset_sha256=prepared.dataset_sha256, lock_sha256=prepared.lock_sha256,
        near_duplicates=tuple(prepared.near_duplicates),
        licence=str((manifest.source or {}).get("licence", "unknown")), access=manifest.access,
    )


@dataclass(frozen=True)
class Trained:
    final_checkpoint: Path
    resumed: bool  # any invocation of this run continued earlier work (see core.run_state)
    config: TrainConfig
    weights: object | None  # segbook.weights.ResolvedWeights


def resolve_weights(request, num_channels: int):
    """Find and verify the checkpoint, and check it fits the network before nnU-Net starts."""
    if not request.configuration.needs_weights:
        return None
    from segbook.weights import resolve_pretrained  # noqa: PLC0415

    resolved = resolve_pretrained(request.configuration.scale, weights_path=request.weights,
                                  weights_dir=request.settings.weights_dir, trust_unpinned=request.trust_unpinned,
                                  manifests_dir=request.settings.manifests_dir)
    check_weights_fit(resolved.path, request.configuration.scale, num_channels)
    return resolved


def check_weights_fit(path: Path, scale: str, num_channels: int) -> None:
    """Fail now, not after planning, if the checkpoint is not this STU-Net's (InvalidInput)."""
    import torch  # noqa: PLC0415

    from segbook.models.checkpoint import adapt_pretrained, load_checkpoint_state_dict  # noqa: PLC0415
    from segbook.models.stunet import build_stunet  # noqa: PLC0415

    with torch.device("meta"):  # shapes only: no memory for the big scales
        model = build_stunet(scale, num_channels, 2, [[2, 2, 2]] * 5, deep_supervision=True)
    adapt_pretrained(load_checkpoint_state_dict(path), model)


def train(request, dataset: Dataset, layout, planned, device: str, weights, journal, progress) -> Trained:
    if weights is not None:
        note = "pinned" if weights.pinned else "UNPINNED (trusted by --trust-unpinned)"
        progress(f"train: fine-tuning from {weights.path} ({note}, tensors {weights.tensor_sha256[:12]})")
    config = TrainConfig(
        configuration=request.configuration.name, scale=request.configuration.scale,
        init=request.configuration.init, weights=str(Path(weights.path).resolve()) if weights else None,
        options=request.options,
        val_iterations_per_epoch=max(1, round(request.iterations_per_epoch * VAL_ITERATION_SHARE)),
        initial_lr=request.configuration.initial_lr,
        seed=request.seed if request.deterministic else None,
        threads=request.effective_threads() or 0, data_workers=request.effective_data_workers(),
        run_validation=request.fold != "all", plans=planned.plans_name,
    )
    if layout.train_config.is_file() and not TrainConfig.load(layout.train_config).same_results_as(config):
        raise OutputBlocked(f"{layout.run_dir} holds an unfinished run with other settings",
                           hint="rerun with the same options to continue it, or pass --force to start over")
    config.save(layout.train_config)
    env = training_environment(request.out_root, layout.results_dir, layout.train_config,
                               threads=config.threads, data_workers=config.data_workers,
                               deterministic=config.options.deterministic)
    progress(f"train: {request.configuration.trainer_name}, {config.options.epochs} epochs x "
             f"{config.options.iterations_per_epoch} iterations, lr {config.initial_lr}, device {device}, "
             f"{'deterministic, seed ' + str(config.seed) if config.options.deterministic else 'non-deterministic'}")
    try:
        final, continued = nnunet_train(request.out_root, layout.results_dir, dataset.dataset_name,
                                        request.configuration.trainer_name, config.plans, request.fold,
                                        run_dir=layout.run_dir,
                                        device=device, env=env, log=layout.log_file, progress=progress,
                                        verbose=request.verbose)
    except Interrupted as exc:
        where = describe_train_state(read_train_state(layout.run_dir))
        raise Interrupted(f"{exc.message}; saved: {where}",
                          hint="run the same command again to continue from there") from exc
    if continued:
        journal.continued(f"train: {continued}")
    return Trained(final, journal.state.resumed, config, weights)


def predict_test_cases(request, dataset: Dataset, layout, trained: Trained, device: str,
                       progress) -> dict[str, str]:
    """Predict the held-out test images; return {case_id: content hash of its prediction}."""
    env = training_environment(request.out_root, layout.results_dir, layout.train_config,
                               threads=request.effective_threads(), data_workers=0,
                               deterministic=request.deterministic)
    predict(dataset.test_images, layout.predictions_dir, layout.results_dir, dataset.dataset_name,
            request.configuration.trainer_name, trained.config.plans, request.fold, device=device,
            threads=request.effective_threads(),
            env=env, log=layout.log_file, progress=progress, verbose=request.verbose)
    return prediction_hashes(layout.predictions_dir, dataset.split.test)


def prediction_hashes(predictions_dir: Path, cases) -> dict[str, str]:
    hashes = {}
    for case_id in sorted(cases):
        path = predictions_dir / f"{case_id}.nii.gz"
        if not path.is_file():
            raise InternalFailure(f"nnU-Net wrote no prediction for test case {case_id}")
        hashes[case_id] = image_content_hash(path)
    return hashes


def evaluate_test_cases(dataset: Dataset, layout, progress):
    from segbook.evaluate import evaluate_folder  # noqa: PLC0415

    result = evaluate_folder(layout.predictions_dir, dataset.test_labels, dataset.labels,
                             cases=list(dataset.split.test))
    result.to_csv(layout.run_dir / "metrics.csv")
    progress(f"evaluate: mean Dice over {len(dataset.split.test)} test case(s): "
             f"{result.summary['mean_dice']:.4f}")
    return result
