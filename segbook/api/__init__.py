"""The kit as a library: one function per `segbook` command; the CLI (segbook.cli) is a thin shell over it.

Each function takes typed values (paths, numbers, a small request dataclass), the invocation's
Settings where it needs them (read once, by the caller) and a progress sink where the work is
long; it returns a result object and raises the errors of segbook.core.errors, each with its
exit code. Nothing here prints. COMMAND_FUNCTIONS names the function of every command
(tests/unit/test_api_commands.py keeps it complete).

This package is the only owner of stage order (segbook.api.finetune; the demo is two finetunes):

    resolve dataset -> prepare (convert, hash, split, lock) -> plan -> train -> predict
    -> evaluate -> receipt

Importing it is cheap: the finetune and demo names below are re-exported here; import the other
commands' functions from their own modules (`from segbook.api.evaluate import evaluate`), which
load torch, numpy, pandas, SimpleITK and nnunetv2 only inside the functions that need them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from segbook.api.demo import DEMO_EPOCHS, DEMO_ITERATIONS, DEMO_PRETRAIN_STEPS, DemoRequest, DemoResult, demo
from segbook.api.finetune import (
    DETERMINISTIC_DATA_WORKERS,
    DETERMINISTIC_THREADS,
    FinetuneRequest,
    RunResult,
    finetune,
    refuse_other_plan,
    resolve_device,
)
from segbook.core.progress import Progress
from segbook.core.protocol import DEFAULT_CHECKPOINT_MINUTES, DEFAULT_SEED, TrainingOptions

# `segbook` command path -> "module:function" of its api function (resolved on use: each module
# loads only when its command runs).
COMMAND_FUNCTIONS: dict[str, str] = {
    "finetune": "segbook.api.finetune:finetune",
    "demo": "segbook.api.demo:demo",
    "prepare": "segbook.api.prepare:prepare",
    "evaluate": "segbook.api.evaluate:evaluate",
    "verify": "segbook.api.verify:verify",
    "predict": "segbook.api.predict:predict",
    "export": "segbook.api.export:export",
    "report": "segbook.api.report:report",
    "doctor": "segbook.api.doctor:doctor",
    "datasets list": "segbook.api.datasets:list_datasets",
    "datasets show": "segbook.api.datasets:show_dataset",
    "datasets init": "segbook.api.datasets:init_dataset",
    "datasets overlap": "segbook.api.datasets:overlap_datasets",
    "datasets fetch": "segbook.api.datasets_fetch:fetch_dataset",
    "weights list": "segbook.api.weights:list_weights",
    "weights fetch": "segbook.api.weights:fetch",
    "weights pin": "segbook.api.weights:pin",
    "weights verify": "segbook.api.weights:verify",
    "ci init": "segbook.api.ci:init",
    "grid plan": "segbook.api.grid:plan",
    "grid submit": "segbook.api.grid:submit",
    "grid resubmit": "segbook.api.grid:resubmit",
    "grid status": "segbook.api.grid:status",
    "grid cancel": "segbook.api.grid:cancel",
    "grid report": "segbook.api.grid:report",
}


def command_function(command: str) -> Callable:
    """The api function of a command path such as "grid submit" (KeyError for an unknown one)."""
    module, name = COMMAND_FUNCTIONS[command].split(":")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "COMMAND_FUNCTIONS", "DEFAULT_CHECKPOINT_MINUTES", "DEFAULT_SEED", "DEMO_EPOCHS", "DEMO_ITERATIONS",
    "DEMO_PRETRAIN_STEPS", "DETERMINISTIC_DATA_WORKERS", "DETERMINISTIC_THREADS", "DemoRequest", "DemoResult",
    "FinetuneRequest", "Progress", "RunResult", "TrainingOptions", "command_function", "demo", "finetune",
    "refuse_other_plan", "resolve_device",
]
