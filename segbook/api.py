"""One function per command; the ONLY place that knows the order of the stages.

    resolve dataset -> prepare (convert, hash, split, lock) -> plan -> train -> predict
    -> evaluate -> receipt

The CLI is a thin shell over these functions; tests and other tools may call them directly.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from segbook.core.configurations import Configuration
from segbook.core.errors import EnvironmentProblem, OutputBlocked
from segbook.core.fsio import ensure_writable_dir
from segbook.core.layout import RunLayout
from segbook.core.receipt import is_complete, load_receipt

Progress = Callable[[str], None]
DETERMINISTIC_THREADS = 2  # fixed so CPU reductions give the same bits on every machine
DETERMINISTIC_DATA_WORKERS = 2  # the batch sequence depends on the number of workers
DEFAULT_SEED = 12345
PROTOCOL_EPOCHS = 1000  # SegBook / nnU-Net default schedule
PROTOCOL_ITERATIONS = 250


@dataclass
class FinetuneRequest:
    dataset: str
    configuration: Configuration
    out_root: Path = Path("segbook-out")
    raw: Path | None = None
    weights: Path | None = None
    trust_unpinned: bool = False
    fold: str = "all"
    epochs: int = PROTOCOL_EPOCHS
    iterations_per_epoch: int = PROTOCOL_ITERATIONS
    seed: int = DEFAULT_SEED
    deterministic: bool = True
    threads: int | None = None
    data_workers: int | None = None
    device: str = "auto"
    force: bool = False
    lock: bool = False
    verbose: bool = False
    command: list[str] = field(default_factory=list)

    def effective_threads(self) -> int | None:
        if self.threads is not None:
            return self.threads
        return DETERMINISTIC_THREADS if self.deterministic else None

    def effective_data_workers(self) -> int:
        if self.data_workers is not None:
            return self.data_workers
        return DETERMINISTIC_DATA_WORKERS if self.deterministic else _default_workers()


@dataclass(frozen=True)
class RunResult:
    receipt_path: Path
    receipt: dict
    skipped: bool  # the run was already complete


def _default_workers() -> int:
    import os  # noqa: PLC0415 - cpu_count only, no environment read

    return max(1, min(4, (os.cpu_count() or 2) - 1))


def resolve_device(device: str) -> str:
    import torch  # noqa: PLC0415

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise EnvironmentProblem("--device cuda was asked for, but torch sees no CUDA device",
                                 hint="check the driver (nvidia-smi) and --gpus all / --nv, or use --device cpu")
    return device


def finetune(request: FinetuneRequest, progress: Progress) -> RunResult:
    """Run one dataset x configuration end to end; a finished run is not repeated."""
    from segbook.nnunet.compat import check_nnunet_version  # noqa: PLC0415
    from segbook.nnunet.steps import plan_and_preprocess  # noqa: PLC0415
    from segbook.pipeline import stages  # noqa: PLC0415
    from segbook.pipeline.run_receipt import write_run_receipt  # noqa: PLC0415

    check_nnunet_version()
    ensure_writable_dir(request.out_root)
    device = resolve_device(request.device)
    timings = stages.Timings(progress)

    with timings.stage("prepare"):
        dataset = stages.resolve_dataset(request, progress)
    layout = RunLayout(request.out_root, dataset.task_id, request.configuration.name, request.fold)
    if is_complete(layout.run_dir) and not request.force:
        progress(f"{layout.run_dir} is already complete: nothing to do (pass --force to run it again)")
        return RunResult(layout.receipt, load_receipt(layout.receipt), skipped=True)
    if request.force and layout.run_dir.exists():
        progress(f"--force: removing {layout.run_dir} to start over")
        shutil.rmtree(layout.run_dir)
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    if request.configuration.needs_weights:
        with timings.stage("weights"):
            weights = stages.resolve_weights(request, dataset.num_channels)
    else:
        weights = None

    with timings.stage("plan"):
        planned = plan_and_preprocess(request.out_root, dataset.dataset_name, dataset.dataset_sha256,
                                      processes=max(1, request.effective_threads() or 2),
                                      log=layout.log_file, progress=progress, verbose=request.verbose)
    with timings.stage("train"):
        trained = stages.train(request, dataset, layout, device, weights, progress)
    with timings.stage("predict"):
        predictions = stages.predict_test_cases(request, dataset, layout, device, progress)
    with timings.stage("evaluate"):
        metrics = stages.evaluate_test_cases(dataset, layout, progress)
    receipt_path, receipt = write_run_receipt(
        request, dataset, layout, device, planned, trained, predictions, metrics, timings.seconds)
    progress(f"done in {sum(timings.seconds.values()):.0f} s; receipt: {receipt_path}")
    return RunResult(receipt_path, receipt, skipped=False)


def refuse_existing(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise OutputBlocked(f"{path} already exists", hint="pass --force to replace it")


@dataclass
class DemoRequest:
    out_root: Path = Path("segbook-out")
    epochs: int = 8
    iterations_per_epoch: int = 8
    pretrain_steps: int = 30
    seed: int = DEFAULT_SEED
    device: str = "cpu"
    force: bool = False
    verbose: bool = False
    command: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DemoResult:
    finetuned: RunResult
    scratch: RunResult
    pretrained_weights: Path


def demo(request: DemoRequest, progress: Progress) -> DemoResult:
    """Pre-train STU-Net-S on CT-like phantoms, then fine-tune vs scratch on MR-like ones."""
    from segbook.core.configurations import Configuration  # noqa: PLC0415
    from segbook.nnunet.compat import check_nnunet_version  # noqa: PLC0415

    check_nnunet_version()
    ensure_writable_dir(request.out_root)
    weights = request.out_root / "demo" / "pretrained" / f"stunet_s_demo_seed{request.seed}.model"
    if request.force or not weights.is_file():
        from segbook.demo.pretrain import pretrain_stunet_s  # noqa: PLC0415
        from segbook.nnunet.determinism import enable_deterministic_algorithms  # noqa: PLC0415

        progress(f"== pre-train STU-Net-S on synthetic CT-like phantoms ({request.pretrain_steps} steps)")
        enable_deterministic_algorithms(DETERMINISTIC_THREADS)
        pretrain_stunet_s(weights, seed=request.seed, steps=request.pretrain_steps, progress=progress)
    else:
        progress(f"pre-trained demo weights already there: {weights}")
    runs = {}
    for init in ("pretrained", "scratch"):
        progress(f"=== demo run: STU-Net-S, {'fine-tuned' if init == 'pretrained' else 'from scratch'}")
        runs[init] = finetune(FinetuneRequest(
            dataset="Demo", configuration=Configuration("stunet-s", init), out_root=request.out_root,
            weights=weights if init == "pretrained" else None,
            trust_unpinned=True,  # made a minute ago by this demo: nothing to pin it against
            epochs=request.epochs, iterations_per_epoch=request.iterations_per_epoch, seed=request.seed,
            deterministic=True, device=request.device, force=request.force, verbose=request.verbose,
            command=request.command,
        ), progress)
    return DemoResult(runs["pretrained"], runs["scratch"], weights)
