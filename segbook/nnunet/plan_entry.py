"""Plan and preprocess one dataset in one process (the kit's nnUNetv2_plan_and_preprocess).

    python -m segbook.nnunet.plan_entry -d 9 --plans SegBookPlans --task-id Task009_Spleen \
        --patch 64 192 160 --spacing 1.6 0.79 0.79 -np 2 --report plan_report.json

Fingerprint (once per dataset, with nnU-Net's integrity check), nnU-Net's own plans (always: they
are what the paper's plan is compared with), SegBook's plans when asked (paper_plan), then
nnU-Net's preprocessing of the chosen plans' 3d_fullres configuration only. One process instead of
three keeps the added cost of the paper's plan to the planner's own work (about a second).
The report names the plans used, both plans' key numbers and any adjustment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from segbook.core.errors import SegbookError
from segbook.core.fsio import atomic_write_json


def _plans(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text())


def run(ns) -> dict:
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import (  # noqa: PLC0415
        ExperimentPlanner,
    )
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (  # noqa: PLC0415
        extract_fingerprint_dataset,
        preprocess_dataset,
    )
    from nnunetv2.utilities.dataset_name_id_conversion import convert_id_to_dataset_name  # noqa: PLC0415

    from segbook.nnunet.paper_plan import FULLRES, SegBookPlanner, summary  # noqa: PLC0415
    from segbook.nnunet.planning import NNUNET_PLANS, PAPER_PLANS  # noqa: PLC0415

    folder = Path(os.environ["nnUNet_preprocessed"]) / convert_id_to_dataset_name(ns.dataset_id)
    if not (folder / "dataset_fingerprint.json").is_file():
        extract_fingerprint_dataset(ns.dataset_id, num_processes=ns.np, check_dataset_integrity=True,
                                    clean=True, verbose=False, show_progress_bar=False)
    if not (folder / f"{NNUNET_PLANS}.json").is_file():
        ExperimentPlanner(ns.dataset_id, plans_name=NNUNET_PLANS).plan_experiment()
    adjustments: list[str] = []
    if ns.plans == PAPER_PLANS:
        planner = SegBookPlanner(ns.dataset_id, task_id=ns.task_id, patch=ns.patch, spacing=ns.spacing)
        planner.plan_experiment()
        adjustments = planner.adjustments
    preprocess_dataset(ns.dataset_id, ns.plans, [FULLRES], [ns.np], verbose=False, show_progress_bar=False)
    return {"plans": ns.plans, "used": summary(_plans(folder, ns.plans)),
            "nnunet": summary(_plans(folder, NNUNET_PLANS)),
            "reference": {"patch": ns.patch, "spacing": ns.spacing} if ns.patch else None,
            "adjustments": adjustments}


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segbook.nnunet.plan_entry", description=__doc__.splitlines()[0])
    parser.add_argument("-d", dest="dataset_id", type=int, required=True)
    parser.add_argument("--plans", required=True, help="nnUNetPlans (nnU-Net's own) or SegBookPlans (the paper's)")
    parser.add_argument("--task-id", default="")
    parser.add_argument("--patch", type=int, nargs=3)
    parser.add_argument("--spacing", type=float, nargs=3)
    parser.add_argument("-np", dest="np", type=int, default=2)
    parser.add_argument("--report", type=Path, required=True)
    ns = parser.parse_args(args)
    from segbook.nnunet.planning import NNUNET_PLANS, PAPER_PLANS  # noqa: PLC0415

    if ns.plans not in (NNUNET_PLANS, PAPER_PLANS):
        parser.error(f"--plans must be {NNUNET_PLANS} or {PAPER_PLANS}")
    if ns.plans == PAPER_PLANS and not (ns.patch and ns.spacing):
        parser.error("SegBookPlans needs --patch and --spacing")
    from segbook.nnunet.resumable import report_and_exit  # noqa: PLC0415

    try:
        report = run(ns)
    except SegbookError as exc:
        report_and_exit(exc)
    atomic_write_json(ns.report, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
