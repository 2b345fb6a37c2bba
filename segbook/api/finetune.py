"""`segbook finetune DATASET`: one dataset x one configuration, end to end, in stage order.

    resolve dataset -> prepare (convert, hash, split, lock) -> plan -> train -> predict
    -> evaluate -> receipt

The stages themselves are segbook.pipeline's; this module alone knows their order.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from segbook.core import crashlog
from segbook.core.configurations import Configuration
from segbook.core.errors import EnvironmentProblem, Interrupted, InvalidInput, OutputBlocked, SegbookError
from segbook.core.fsio import ensure_writable_dir
from segbook.core.layout import RunLayout
from segbook.core.locks import describe_holder, exclusive, lock_path
from segbook.core.progress import Progress
from segbook.core.protocol import TrainingOptions
from segbook.core.run_state import RunJournal
from segbook.core.settings import Settings
from segbook.verify.done import BROKEN, BROKEN_HINT, check_cell

DETERMINISTIC_THREADS = 2  # fixed so CPU reductions give the same bits on every machine
DETERMINISTIC_DATA_WORKERS = 2  # the batch sequence depends on the number of workers


@dataclass(frozen=True)
class FinetuneRequest(TrainingOptions):
    dataset: str
    configuration: Configuration
    out_root: Path = Path("segbook-out")
    raw: Path | None = None
    weights: Path | None = None
    trust_unpinned: bool = False
    fold: str = "all"
    force: bool = False
    lock: bool = False
    verbose: bool = False
    wait: bool = True  # for another process running the same cell (else exit 73 at once)
    settings: Settings = field(default_factory=Settings)
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
    import torch  # noqa: PLC0415 - torch on use

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise EnvironmentProblem("--device cuda was asked for, but torch sees no CUDA device",
                                 hint="check the driver (nvidia-smi) and --gpus all / --nv, or use --device cpu")
    return device


def refuse_other_plan(receipt: dict, plans_name: str, layout: RunLayout) -> None:
    """A finished run made with the other plan is not this request's result (nor overwritten)."""
    from segbook.nnunet.planning import NNUNET_PLANS  # noqa: PLC0415 - receipts from before plans were recorded

    made_with = ((receipt.get("configuration") or {}).get("plan") or {}).get("plans_name", NNUNET_PLANS)
    if made_with != plans_name:
        raise OutputBlocked(f"{layout.run_dir} holds a finished run made with {made_with}, not {plans_name}",
                            hint="use another --out for the other plan, or --force to replace that run")


def finetune(request: FinetuneRequest, progress: Progress) -> RunResult:
    """Run one dataset x configuration end to end; a finished run is not repeated.

    One process at a time per run folder (a lock held for the whole run, released however the
    process ends); every invocation is recorded in the run folder's run_state.json."""
    from segbook.nnunet.compat import check_nnunet_version  # noqa: PLC0415 - only where nnU-Net runs
    from segbook.pipeline import stages  # noqa: PLC0415 - numpy on use

    check_nnunet_version()
    ensure_writable_dir(request.out_root)
    device = resolve_device(request.device)
    located = stages.locate_dataset(request)
    plan = stages.choose_plan(located.manifest, request.plan)
    layout = RunLayout(request.out_root, located.task_id, request.configuration.name, request.fold)
    crashlog.use_run_dir(layout.run_dir)  # a crash from here on is logged in the run's logs/
    with exclusive(lock_path(request.out_root, layout.lock_name), what="run of this cell",
                   wait=request.wait, mode=request.settings.lock_mode,
                   busy_hint="wait for it (rerun without --no-wait), or stop it first",
                   on_wait=lambda holder: progress(
                       f"another run of {layout.run_dir} is in progress "
                       f"({describe_holder(holder)}): waiting for it")):
        cell = check_cell(layout.run_dir)
        if cell.state == BROKEN and not request.force:
            raise InvalidInput(f"{layout.run_dir} has a damaged receipt: {cell.reason}", hint=BROKEN_HINT)
        if cell.done and not request.force:
            receipt = cell.receipt
            assert receipt is not None  # check_cell gives every DONE cell its receipt
            refuse_other_plan(receipt, plan.plans_name, layout)
            progress(f"{layout.run_dir} is already complete: nothing to do (pass --force to run it again)")
            return RunResult(layout.receipt, receipt, skipped=True)
        if request.force and layout.run_dir.exists():
            progress(f"--force: removing {layout.run_dir} to start over")
            shutil.rmtree(layout.run_dir)
        layout.run_dir.mkdir(parents=True, exist_ok=True)
        journal = RunJournal(layout.run_dir, slurm_job=request.settings.slurm_job,
                             slurm_restarts=request.settings.slurm_restarts)
        try:
            result = _run_stages(request, located, plan, layout, device, journal, progress)
        except Interrupted as exc:
            journal.end("interrupted", int(exc.exit_code), exc.message)
            raise
        except SegbookError as exc:
            journal.end("failed", int(exc.exit_code), exc.message)
            raise
        except BaseException as exc:
            journal.end("failed", 70, f"{type(exc).__name__}: {exc}")
            raise
        journal.end("done", 0)
        return result


def _run_stages(request: FinetuneRequest, located, plan, layout: RunLayout, device: str, journal: RunJournal,
                progress: Progress) -> RunResult:
    from segbook.nnunet.planning import plan_and_preprocess  # noqa: PLC0415 - numpy on use
    from segbook.pipeline import stages  # noqa: PLC0415 - numpy on use
    from segbook.pipeline.run_receipt import write_run_receipt  # noqa: PLC0415 - numpy on use

    timings = stages.Timings(progress)
    with timings.stage("prepare"):
        dataset = stages.prepare(request, located, progress)
    if request.configuration.needs_weights:
        with timings.stage("weights"):
            weights = stages.resolve_weights(request, dataset.num_channels)
    else:
        weights = None
    with timings.stage("plan"):
        planned = plan_and_preprocess(request.out_root, dataset.dataset_name, dataset.dataset_sha256, plan,
                                      task_id=dataset.task_id, processes=max(1, request.effective_threads() or 2),
                                      log=layout.log_file, progress=progress, lock_mode=request.settings.lock_mode,
                                      verbose=request.verbose)
    with timings.stage("train"):
        trained = stages.train(request, dataset, layout, planned, device, weights, journal, progress)
    with timings.stage("predict"):
        predictions = stages.predict_test_cases(request, dataset, layout, trained, device, progress)
    with timings.stage("evaluate"):
        metrics = stages.evaluate_test_cases(dataset, layout, progress)
    receipt_path, receipt = write_run_receipt(
        request, dataset, layout, device, planned, trained, predictions, metrics, timings.seconds)
    progress(f"done in {sum(timings.seconds.values()):.0f} s; receipt: {receipt_path}")
    return RunResult(receipt_path, receipt, skipped=False)
