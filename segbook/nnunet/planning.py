"""The plan stage: nnU-Net plans and preprocesses a dataset once per content and plan choice.

Two plan choices can live side by side in OUT/nnUNet_preprocessed/DatasetNNN_Name/:
nnU-Net 2.8.1's own (``nnUNetPlans``) and the paper's (``SegBookPlans``, see paper_plan), each
with its preprocessed arrays and a stamp ``segbook_stamp_<plans>.json`` holding what it was made
from (dataset content hash, nnU-Net version, the reference plan) and the planning report. An
unchanged stamp means reuse; a dataset whose content changed is planned again from scratch.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from segbook.core.errors import InternalFailure
from segbook.core.hashing import sha256_json
from segbook.core.locks import describe_holder, exclusive, lock_path
from segbook.core.stamps import REUSE, decide, read_stamp, write_stamp
from segbook.nnunet.compat import check_nnunet_version
from segbook.nnunet.environment import nnunet_environment
from segbook.nnunet.process import ProgressSink, run_logged

PAPER_PLANS, NNUNET_PLANS = "SegBookPlans", "nnUNetPlans"  # plans identifiers (file names, data folders)
STAMP_PREFIX = "segbook_stamp_"


@dataclass(frozen=True)
class PlanChoice:
    source: str  # "paper" (SegBook's reference plan) or "nnunet" (nnU-Net 2.8.1's own)
    patch: tuple[int, int, int] | None = None  # the reference plan (z, y, x), for "paper"
    spacing: tuple[float, float, float] | None = None

    @property
    def plans_name(self) -> str:
        return PAPER_PLANS if self.source == "paper" else NNUNET_PLANS


@dataclass(frozen=True)
class PlannedDataset:
    dataset_name: str  # e.g. Dataset999_SegBookDemo
    plans_name: str
    plans_path: Path
    plans_sha256: str
    reused: bool
    report: dict  # plan_entry's report: plans used, both plans' key numbers, adjustments


def plans_hash(plans_path: Path) -> str:
    return sha256_json(json.loads(plans_path.read_text()))


def describe_difference(report: dict) -> str:
    used, own = report["used"], report["nnunet"]
    if report["plans"] == NNUNET_PLANS:
        return f"nnU-Net's own plan: patch {own['patch_size']}, spacing {own['spacing']}, batch {own['batch_size']}"
    same = used["patch_size"] == own["patch_size"] and used["spacing"] == own["spacing"]
    text = (f"paper's plan: patch {used['patch_size']}, spacing {used['spacing']}, batch {used['batch_size']}; "
            f"nnU-Net 2.8.1's own would be patch {own['patch_size']}, spacing {own['spacing']}, "
            f"batch {own['batch_size']}" + (" (the same)" if same else ""))
    for note in report.get("adjustments") or []:
        text += f"; adjusted: {note}"
    return text


def plan_and_preprocess(out_root: Path, dataset_name: str, dataset_sha256: str, choice: PlanChoice, *,
                        task_id: str, processes: int, log: Path, progress: ProgressSink, lock_mode: str = "flock",
                        verbose: bool = False) -> PlannedDataset:
    """Plan and preprocess once per dataset content and plan choice; unchanged ones are reused."""
    folder = out_root / "nnUNet_preprocessed" / dataset_name
    plans_path = folder / f"{choice.plans_name}.json"
    content = {"dataset_sha256": dataset_sha256, "nnunetv2": check_nnunet_version()}
    reference = None
    if choice.source == "paper":
        assert choice.patch is not None and choice.spacing is not None  # choose_plan sets both for "paper"
        reference = {"patch": list(choice.patch), "spacing": list(choice.spacing)}
    wanted = {**content, "plans": choice.plans_name, "reference": reference}
    stamp_path = folder / f"{STAMP_PREFIX}{choice.plans_name}.json"
    # one planner per dataset, whoever starts first (Slurm array tasks share the output root)
    with exclusive(lock_path(out_root, f"plan-{dataset_name}"), what=f"planning of {dataset_name}", mode=lock_mode,
                   on_wait=lambda holder: progress(
                       f"plan: waiting for {describe_holder(holder, 'another process')} to plan {dataset_name}")):
        stamp = read_stamp(stamp_path)
        # the plans folder is the kit's own: anything there is redone, never refused
        if decide(stamp, wanted, output_present=plans_path.is_file(), may_replace=True).action == REUSE:
            assert stamp is not None  # decide() reuses only what a stamp describes
            report = stamp["report"]
            progress(f"plan: {dataset_name} already planned and preprocessed ({choice.plans_name}; skipped)")
            progress(f"plan: {describe_difference(report)}")
            return PlannedDataset(dataset_name, choice.plans_name, plans_path, plans_hash(plans_path), True, report)
        _drop_stale(folder, content, choice.plans_name)
        report = _run_planner(out_root, dataset_name, choice, task_id=task_id, processes=processes, log=log,
                              progress=progress, verbose=verbose)
        if not plans_path.is_file():
            raise InternalFailure(f"nnU-Net wrote no plans for {dataset_name}", hint=f"see {log}")
        write_stamp(stamp_path, wanted, report=report)
    progress(f"plan: {describe_difference(report)}")
    return PlannedDataset(dataset_name, choice.plans_name, plans_path, plans_hash(plans_path), False, report)


def planned_reports(out_root: Path, dataset_name: str) -> dict[str, dict]:
    """{plans name: planning report} for every plan already made under out_root (stamps only)."""
    folder = out_root / "nnUNet_preprocessed" / dataset_name
    reports = {}
    for stamp_path in sorted(folder.glob(f"{STAMP_PREFIX}*.json")):
        stamp = read_stamp(stamp_path)
        if stamp and isinstance(stamp.get("report"), dict):
            reports[stamp_path.stem.removeprefix(STAMP_PREFIX)] = stamp["report"]
    return reports


def _drop_stale(folder: Path, content: dict, plans_name: str) -> None:
    """Another dataset content or nnU-Net version: start over. Else drop only this plan's files."""
    stamps = [read_stamp(p) or {} for p in folder.glob(f"{STAMP_PREFIX}*.json")]
    made_from = [s.get("made_from") or {} for s in stamps]
    if not folder.is_dir():
        return
    if not stamps or any({k: m.get(k) for k in content} != content for m in made_from):
        shutil.rmtree(folder)
        return
    (folder / f"{plans_name}.json").unlink(missing_ok=True)
    shutil.rmtree(folder / f"{plans_name}_3d_fullres", ignore_errors=True)


def _run_planner(out_root: Path, dataset_name: str, choice: PlanChoice, *, task_id: str, processes: int,
                 log: Path, progress: ProgressSink, verbose: bool) -> dict:
    dataset_id = str(int(dataset_name[len("Dataset"):len("Dataset") + 3]))
    what = "SegBook's reference plan" if choice.source == "paper" else "nnU-Net's own plan"
    progress(f"plan: nnU-Net plans and preprocesses {dataset_name} with {what} ({choice.plans_name})")
    report_path = log.parent / f".plan_report_{choice.plans_name}.json"
    argv = [sys.executable, "-m", "segbook.nnunet.plan_entry", "-d", dataset_id, "--plans", choice.plans_name,
            "--task-id", task_id, "-np", str(processes), "--report", str(report_path)]
    if choice.source == "paper":
        assert choice.patch is not None and choice.spacing is not None  # choose_plan sets both for "paper"
        argv += ["--patch", *map(str, choice.patch), "--spacing", *map(repr, map(float, choice.spacing))]
    # nnU-Net 2.8.1 calls torch.set_num_threads(n_proc_DA) while planning: 0 would crash it
    env = nnunet_environment(out_root, out_root / "nnUNet_results", threads=None, data_workers=processes)
    run_logged(argv, env, log, what="nnU-Net planning", progress=progress, verbose=verbose)
    report = json.loads(report_path.read_text())
    report_path.unlink(missing_ok=True)
    return report
