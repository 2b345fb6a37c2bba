"""The sbatch job-array script of one resource class.

Array task i runs the cell whose argv is in TASKS/task-<i>.argv (NUL-separated, read with
`mapfile -d ''`), so no path, name or option is ever parsed by the shell. The only user strings
pasted into the script are shell-quoted (shlex.quote) or checked against a strict pattern.

Preemption and time limits: Slurm sends USR1 to the batch shell `grace` seconds before it kills
the job (--signal=B:USR1@grace); TERM comes on scancel or preemption. The shell forwards either
to segbook, which finishes its iteration, writes a checkpoint and exits 75; the shell then
requeues the job (scontrol requeue) up to `requeue_limit` times (SLURM_RESTART_COUNT counts
them), and the requeued task continues where it stopped. A finished cell exits 0 at once.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from segbook.core.errors import InvalidInput
from segbook.grid.commands import ENV_IMAGE_MISMATCH, SLURM_VARIABLES
from segbook.grid.profile import ClassResources, SiteProfile

EXIT_RESUMABLE = 75  # segbook.core.errors.ExitCode.INTERRUPTED
_UNQUOTABLE_IN_SBATCH = ('"', "\\", "%", "\n", "\r")


def gpu_option(res: ClassResources) -> str | None:
    if res.gpu_request == "none":
        return None
    if res.gpu_request == "gpus":
        return f"--gpus={res.gpu_type + ':' if res.gpu_type else ''}{res.gpus}"
    return f"--gres=gpu:{res.gpu_type + ':' if res.gpu_type else ''}{res.gpus}"


def sbatch_options(res: ClassResources, *, job_name: str, n_tasks: int, log_pattern: str, grace: int) -> list[str]:
    """The #SBATCH options, in order; the log path is double-quoted (sbatch's own quoting)."""
    if any(ch in log_pattern.replace("%A", "").replace("%a", "") for ch in _UNQUOTABLE_IN_SBATCH):
        raise InvalidInput(f"the grid folder path {log_pattern!r} holds a character sbatch cannot take in "
                           "--output (\" \\ % or a line break)", hint="plan the grid in a folder with a plainer path")
    array = f"0-{n_tasks - 1}" + (f"%{res.max_concurrent}" if res.max_concurrent else "")
    options = [f"--job-name={job_name}", f"--array={array}", f'--output="{log_pattern}"', "--open-mode=append",
               f"--signal=B:USR1@{grace}", "--requeue", f"--time={res.time}", f"--mem={res.mem}",
               f"--cpus-per-task={res.cpus}"]
    gpu = gpu_option(res)
    if gpu:
        options.append(gpu)
    for name in ("partition", "account", "qos", "constraint"):
        value = getattr(res, name)
        if value:
            options.append(f"--{name}={value}")
    options += list(res.extra_sbatch)
    return options


def render_script(resource_class: str, profile: SiteProfile, *, job_name: str, tasks_dir: Path, log_dir: Path,
                  n_tasks: int, runtime_kind: str, image_mismatch: bool) -> str:
    res = profile.resources(resource_class)
    log_pattern = str(Path(log_dir) / f"{resource_class}-%A_%a.out")
    lines = ["#!/bin/bash",
             f"# SegBook grid, resource class {resource_class!s}: {n_tasks} cell(s), one per array task.",
             "# Written by `segbook grid submit`; task i runs the command in task-<i>.argv (NUL-separated).",
             *(f"#SBATCH {o}" for o in sbatch_options(res, job_name=job_name, n_tasks=n_tasks,
                                                     log_pattern=log_pattern, grace=profile.signal_grace)),
             "set -u", ""]
    lines += [f"module load {shlex.quote(m)}" for m in profile.modules]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in profile.env]
    if image_mismatch:
        lines.append(f"export {ENV_IMAGE_MISMATCH}=1  # --allow-image-mismatch: the receipts record it")
    lines += [
        f"tasks_dir={shlex.quote(str(tasks_dir))}",
        f"requeue_limit={profile.requeue_limit}",
        'task="${SLURM_ARRAY_TASK_ID:?this script runs as a Slurm array task (sbatch --array)}"',
        'task_file="$tasks_dir/task-$task.argv"',
        'if [[ ! -r $task_file ]]; then',
        '    echo "error: cannot read $task_file" >&2',
        '    echo "hint: the submission folder must be on a filesystem the compute nodes see" >&2',
        "    exit 66",
        "fi",
        "mapfile -d '' -t cmd < \"$task_file\"",
        'cell=$(sed -n "$((task + 1))p" "$tasks_dir/cells.txt")',
        "restarts=${SLURM_RESTART_COUNT:-0}",
    ]
    if runtime_kind == "apptainer":  # --containall drops the host environment; APPTAINERENV_* still pass
        lines += [f'if [[ -n ${{{v}:-}} ]]; then export APPTAINERENV_{v}="${v}"; fi' for v in SLURM_VARIABLES]
    lines += [
        'echo "segbook-grid: cell $cell, job ${SLURM_JOB_ID:-?} (${SLURM_ARRAY_JOB_ID:-?}_$task), restart $restarts,'
        ' on $(hostname)"',
        "printf 'segbook-grid: running'; printf ' %q' \"${cmd[@]}\"; printf '\\n'",
        "",
        "child=0",
        "forward() {  # Slurm's warning (USR1) or a stop (TERM): segbook checkpoints and exits 75",
        '    echo "segbook-grid: received SIG$1, forwarding it to segbook (pid $child)" >&2',
        '    if ((child > 0)); then kill -s "$1" "$child" 2>/dev/null || true; fi',
        "}",
        "trap 'forward USR1' USR1",
        "trap 'forward TERM' TERM",
        '"${cmd[@]}" &',
        "child=$!",
        "# a trapped signal interrupts `wait`: wait again until segbook itself has ended",
        'while kill -0 "$child" 2>/dev/null; do wait "$child"; done',
        'wait "$child"',
        "status=$?",
        f"if ((status == {EXIT_RESUMABLE})); then",
        "    if ((restarts < requeue_limit)); then",
        '        echo "segbook-grid: segbook stopped resumably (exit 75): requeueing, restart $((restarts + 1)) of'
        ' $requeue_limit" >&2',
        '        scontrol requeue "$SLURM_JOB_ID" || echo "error: scontrol requeue failed: resubmit this cell" >&2',
        "    else",
        '        echo "segbook-grid: requeue limit ($requeue_limit) reached; the cell keeps its checkpoint:'
        ' segbook grid resubmit GRID --failed continues it" >&2',
        "    fi",
        "fi",
        'exit "$status"',
        "",
    ]
    return "\n".join(lines)
