"""The command line of one cell: `segbook finetune ...` natively or in the kit's image.

An argv list, never a shell string: the job scripts read it from a NUL-separated file and run
"${cmd[@]}", so no path or name is ever parsed by a shell. In an image the command line is the
one every container run of the kit uses (segbook.core.container_run): /input raw data (read-only),
/output the output root, /weights the checkpoint's folder (read-only).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from segbook.core.container_run import INPUT, OUTPUT, WEIGHTS, ContainerRun, Mount, container_argv
from segbook.core.protocol import option_argv
from segbook.core.settings import (
    ENV_IMAGE,
    ENV_IMAGE_DIGEST,
    ENV_RUNTIME,
    ENV_SLURM_ARRAY_JOB,
    ENV_SLURM_ARRAY_TASK,
    ENV_SLURM_JOB,
    ENV_SLURM_RESTARTS,
)
from segbook.grid.gridfile import GridEntry, GridSettings

RUNTIMES = ("native", "apptainer", "podman", "docker")
ENV_IMAGE_MISMATCH = "SEGBOOK_IMAGE_MISMATCH"  # the image's labels differ from this checkout (recorded)
# what the kit reads to record the Slurm job in run_state.json; a clean container environment
# would drop them, so they are passed in explicitly
SLURM_VARIABLES = (ENV_SLURM_JOB, ENV_SLURM_ARRAY_JOB, ENV_SLURM_ARRAY_TASK, ENV_SLURM_RESTARTS)


@dataclass(frozen=True)
class Runtime:
    kind: str = "native"  # one of RUNTIMES
    image: str | None = None  # SIF file (apptainer) or image reference (podman/docker)
    image_digest: str | None = None
    image_mismatch: bool = False  # used with --allow-image-mismatch although its labels differ
    binary: str | None = None  # apptainer/singularity, podman or docker
    limits: tuple[str, ...] = ()  # docker/podman: --ulimit/--runtime flags for the submitting host
    python: str = sys.executable  # native: the interpreter this kit runs in

    @property
    def in_container(self) -> bool:
        return self.kind != "native"


def finetune_args(entry: GridEntry, settings: GridSettings, *, raw: str | None, out: str,
                  weights: str | None) -> list[str]:
    cell, config = entry.cell, entry.cell.config
    args = ["finetune", cell.task_id, "--model", config.model,
            "--init", "pretrained" if config.needs_weights else "scratch", "--fold", cell.fold, "--out", out]
    if raw:
        args += ["--raw", raw]
    if weights:
        args += ["--weights", weights]
        if settings.trust_unpinned:
            args.append("--trust-unpinned")
    return args + option_argv(settings.options)  # every training option, whatever fields it has


def cell_argv(entry: GridEntry, settings: GridSettings, runtime: Runtime) -> list[str]:
    if runtime.kind == "native":
        return [runtime.python, "-m", "segbook", *finetune_args(entry, settings, raw=entry.raw,
                                                                out=settings.out_root, weights=entry.weights)]
    image = runtime.image
    assert image is not None  # launch refuses a container runtime without --image
    mounts = [Mount(settings.out_root, OUTPUT, writable=True)]
    if entry.raw:
        mounts.append(Mount(entry.raw, INPUT))
    weights = None
    if entry.weights:
        mounts.append(Mount(str(Path(entry.weights).parent), WEIGHTS))
        weights = f"{WEIGHTS}/{Path(entry.weights).name}"
    env = [(ENV_RUNTIME, runtime.kind), (ENV_IMAGE, image), (ENV_IMAGE_DIGEST, runtime.image_digest or "")]
    if runtime.image_mismatch:
        env.append((ENV_IMAGE_MISMATCH, "1"))
    inner = finetune_args(entry, settings, raw=INPUT if entry.raw else None, out=OUTPUT, weights=weights)
    run = ContainerRun(runtime.kind, image, tuple(mounts), tuple(env), pass_env=SLURM_VARIABLES,
                       user=f"{os.getuid()}:{os.getgid()}", gpu=settings.options.device != "cpu", limits=runtime.limits,
                       binary=runtime.binary)
    return container_argv(run, inner)
