"""`segbook demo`: pre-train STU-Net-S on CT-like phantoms, then fine-tune vs scratch on MR-like ones.

Two `finetune` runs (segbook.api.finetune) on the kit's synthetic demo dataset, and a figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from segbook.api.finetune import DETERMINISTIC_THREADS, FinetuneRequest, RunResult, finetune
from segbook.core.configurations import Configuration
from segbook.core.fsio import ensure_writable_dir
from segbook.core.layout import CASE_FILE_ENDING, test_labels_dir
from segbook.core.progress import Progress
from segbook.core.protocol import DEFAULT_SEED
from segbook.core.settings import Settings

# The demo's schedule: 64 iterations per run and a 30-step stand-in pre-training, so that the whole
# demo stays within about 3 minutes on 2 CPU cores (docs/demo.md: what longer schedules give)
DEMO_EPOCHS = 8
DEMO_ITERATIONS = 8
DEMO_PRETRAIN_STEPS = 30


@dataclass
class DemoRequest:
    out_root: Path = Path("segbook-out")
    epochs: int = DEMO_EPOCHS
    iterations_per_epoch: int = DEMO_ITERATIONS
    pretrain_steps: int = DEMO_PRETRAIN_STEPS
    seed: int = DEFAULT_SEED
    device: str = "cpu"
    force: bool = False
    verbose: bool = False
    settings: Settings = field(default_factory=Settings)
    command: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DemoResult:
    finetuned: RunResult
    scratch: RunResult
    pretrained_weights: Path
    figure: Path  # OUT/demo/demo.png: a held-out slice with both predictions, pseudo-Dice per epoch


def demo(request: DemoRequest, progress: Progress) -> DemoResult:
    """Pre-train STU-Net-S on CT-like phantoms, then fine-tune vs scratch on MR-like ones."""
    from segbook.nnunet.compat import check_nnunet_version  # noqa: PLC0415 - only where nnU-Net runs

    check_nnunet_version()
    ensure_writable_dir(request.out_root)
    weights = request.out_root / "demo" / "pretrained" / f"stunet_s_demo_seed{request.seed}.model"
    if request.force or not weights.is_file():
        from segbook.demo.pretrain import pretrain_stunet_s  # noqa: PLC0415 - torch on use
        from segbook.nnunet.determinism import enable_deterministic_algorithms  # noqa: PLC0415 - torch on use

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
            settings=request.settings, command=request.command,
        ), progress)
    figure = _demo_figure(request.out_root, {"fine-tuned": runs["pretrained"], "scratch": runs["scratch"]})
    progress(f"demo figure: {figure}")
    return DemoResult(runs["pretrained"], runs["scratch"], weights, figure)


def _demo_figure(out_root: Path, runs: dict[str, RunResult]) -> Path:
    """Draw the figure from what the two runs wrote (first held-out case, both runs' logs)."""
    from segbook.report.demo_figure import demo_figure  # noqa: PLC0415 - matplotlib on use

    first = next(iter(runs.values())).receipt
    case = sorted(first["hashes"]["predictions"])[0]
    raw = out_root / "nnUNet_raw" / first["dataset"]["nnunet_dataset"]
    run_dirs = {name: run.receipt_path.parent for name, run in runs.items()}
    return demo_figure(
        out_root / "demo" / "demo.png", image=raw / "imagesTs" / f"{case}_0000{CASE_FILE_ENDING}",
        reference=test_labels_dir(out_root, first["dataset"]["nnunet_dataset"]) / f"{case}{CASE_FILE_ENDING}",
        predictions={name: d / "predictions" / f"{case}{CASE_FILE_ENDING}" for name, d in run_dirs.items()},
        logs={name: d / "logs" / "nnunet.log" for name, d in run_dirs.items()},
        dice={name: run.receipt["metrics"]["summary"]["mean_dice"] for name, run in runs.items()})
