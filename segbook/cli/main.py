"""The `segbook` click group.

Sub-commands are imported only when they run, so `segbook --help` and the catalog
commands start fast and never import torch or nnunetv2.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from segbook import __version__
from segbook.cli.errors import run_guarded

# command name -> "module:attribute"; each module holds one command (or group).
COMMANDS = {
    "demo": "segbook.cli.demo_cmd:demo",
    "finetune": "segbook.cli.finetune_cmd:finetune",
    "verify": "segbook.cli.verify_cmd:verify",
    "predict": "segbook.cli.predict_cmd:predict",
    "export": "segbook.cli.export_cmd:export",
    "datasets": "segbook.cli.datasets_cmd:datasets",
    "prepare": "segbook.cli.prepare_cmd:prepare",
    "evaluate": "segbook.cli.evaluate_cmd:evaluate",
    "report": "segbook.cli.report_cmd:report",
    "weights": "segbook.cli.weights_cmd:weights",
    "doctor": "segbook.cli.doctor_cmd:doctor",
    "ci": "segbook.cli.ci_cmd:ci",
    "grid": "segbook.cli.grid_cmd:grid",
}

# The first sentence of each command's docstring, here so that `segbook --help` imports no command
# module (tests/unit/test_cli_help.py keeps the two in step).
SHORT_HELP = {
    "demo": "Fine-tuned vs from-scratch STU-Net-S on the embedded synthetic demo.",
    "finetune": "Run DATASET end to end: prepare, plan, train, predict the held-out test cases, evaluate, "
                "and write a receipt.",
    "verify": "Re-check a receipt offline: its hashes, the reference labels and the metrics.",
    "predict": "Apply a trained cell to new scans: predictions in each input's geometry, with a receipt.",
    "export": "Export a trained cell as an nnU-Net model zip, with its receipts and SHA256SUMS.",
    "datasets": "List and show the 87 SegBook datasets (+ demo); make a manifest for your own data; overlap.",
    "prepare": "Convert DATASET's download into nnU-Net layout, hash every case, split, and compare with the lock.",
    "evaluate": "Dice, NSD (area-weighted, Nikolov et al.) and HD95 of PRED_DIR against REF_DIR.",
    "report": "Collect receipts into tables next to the paper's values, grouped as the paper groups them.",
    "weights": "List, fetch, pin and verify the pre-trained STU-Net checkpoints.",
    "doctor": "Check this environment: versions, GPU and driver, writable paths, network, weights, container.",
    "ci": "CI reproduction checks for your repository (GitHub Actions).",
    "grid": "The whole benchmark on a cluster: one Slurm array task per cell, one cell = one `segbook finetune`.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(n for n in COMMANDS if _available(n))

    def get_command(self, ctx, name):
        if name not in COMMANDS or not _available(name):
            return None
        module_name, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx, formatter):
        rows = [(n, SHORT_HELP.get(n, "")) for n in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _available(name: str) -> bool:
    module_name = COMMANDS[name].split(":")[0]
    return importlib.util.find_spec(module_name) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="segbook")
def cli():
    """SegBook kit: reproduce the SegBook benchmark (STU-Net fine-tuned vs scratch vs nnU-Net).

    One dataset per invocation; every input pinned by a checksum, every run described by a
    receipt that `segbook verify` re-checks offline.

    \b
    Exit codes: 0 ok, 1 differences found, 2 usage, 65 invalid data/manifest,
    66 input missing, 70 internal error, 73 output not writable / would overwrite,
    75 interrupted (rerun continues), 78 environment problem.
    """


def main(argv: list[str] | None = None) -> int:
    return run_guarded(cli, argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
