"""The command line of one cell: `segbook finetune ...` natively or in the kit's image.

An argv list, never a shell string: the job scripts read it from a NUL-separated file and run
"${cmd[@]}", so no path or name is ever parsed by a shell. In an image the mount contract holds:
/input raw data (read-only), /output the output root, /weights the checkpoint's folder (read-only).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from segbook.core.errors import InvalidInput
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
INPUT, OUTPUT, WEIGHTS = "/input", "/output", "/weights"
ENV_IMAGE_MISMATCH = "SEGBOOK_IMAGE_MISMATCH"  # the image's labels differ from this checkout (recorded)
# what the kit reads to record the Slurm job in run_state.json; a clean container environment
# would drop them, so they are passed in explicitly
SLURM_VARIABLES = (ENV_SLURM_JOB, ENV_SLURM_ARRAY_JOB, ENV_SLURM_ARRAY_TASK, ENV_SLURM_RESTARTS)
_BIND_UNSAFE = (":", ",")  # Apptainer's --bind and the engines' -v split on these


@dataclass(frozen=True)
class Runtime:
    kind: str = "native"  # one of RUNTIMES
    image: str | None = None  # SIF file (apptainer) or image reference (podman/docker)
    image_digest: str | None = None
    image_mismatch: bool = False  # used with --allow-image-mismatch although its labels differ
    binary: str | None = None  # apptainer/singularity, podman or docker
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
    args += ["--epochs", str(settings.epochs), "--iterations-per-epoch", str(settings.iterations_per_epoch),
             "--seed", str(settings.seed), "--deterministic" if settings.deterministic else "--no-deterministic",
             "--device", settings.device]
    if settings.threads is not None:
        args += ["--threads", str(settings.threads)]
    if settings.data_workers is not None:
        args += ["--data-workers", str(settings.data_workers)]
    if settings.checkpoint_minutes is not None:
        args += ["--checkpoint-minutes", f"{settings.checkpoint_minutes:g}"]
    return args


def _bindable(path: str, what: str) -> str:
    if any(ch in path for ch in _BIND_UNSAFE):
        raise InvalidInput(f"{what} {path!r} contains ':' or ',', which container bind options cannot express",
                           hint="move or symlink it to a path without them, or use --runtime native")
    return path


def cell_argv(entry: GridEntry, settings: GridSettings, runtime: Runtime) -> list[str]:
    if runtime.kind == "native":
        return [runtime.python, "-m", "segbook", *finetune_args(entry, settings, raw=entry.raw,
                                                                out=settings.out_root, weights=entry.weights)]
    image = runtime.image
    assert image is not None  # launch refuses a container runtime without --image
    binds = [(_bindable(settings.out_root, "output root"), OUTPUT, "rw")]
    if entry.raw:
        binds.append((_bindable(entry.raw, "raw folder"), INPUT, "ro"))
    weights = None
    if entry.weights:
        binds.append((_bindable(str(Path(entry.weights).parent), "weights folder"), WEIGHTS, "ro"))
        weights = f"{WEIGHTS}/{Path(entry.weights).name}"
    if runtime.kind == "apptainer" and "," in (runtime.image or ""):  # --env splits its value on commas
        raise InvalidInput(f"image path {runtime.image!r} contains ',', which apptainer --env cannot pass",
                           hint="move or symlink the SIF to a path without commas")
    env = {ENV_RUNTIME: runtime.kind, ENV_IMAGE: runtime.image or "", ENV_IMAGE_DIGEST: runtime.image_digest or ""}
    if runtime.image_mismatch:
        env[ENV_IMAGE_MISMATCH] = "1"
    inner = finetune_args(entry, settings, raw=INPUT if entry.raw else None, out=OUTPUT, weights=weights)
    gpu = settings.device != "cpu"
    if runtime.kind == "apptainer":
        argv = [runtime.binary or "apptainer", "run", *(["--nv"] if gpu else []), "--containall", "--no-home",
                "--pwd", OUTPUT]
        for host, inside, mode in binds:
            argv += ["--bind", f"{host}:{inside}" + (":ro" if mode == "ro" else "")]
        for name, value in env.items():
            argv += ["--env", f"{name}={value}"]
        return [*argv, image, *inner]
    container_tmp = "/tmp:rw,exec"  # noqa: S108 - a tmpfs inside the container, not the host's /tmp
    argv = [runtime.binary or runtime.kind, "run", "--rm", "--network", "none", "--read-only", "--tmpfs",
            container_tmp, "--shm-size", "2g", "--security-opt", "no-new-privileges", "--cap-drop", "ALL",
            "--user", f"{os.getuid()}:{os.getgid()}", "--workdir", OUTPUT]
    for host, inside, mode in binds:
        argv += ["-v", f"{host}:{inside}:{mode}"]
    for name, value in env.items():
        argv += ["-e", f"{name}={value}"]
    for name in SLURM_VARIABLES:  # passed through from the job's environment when set
        argv += ["-e", name]
    if gpu:
        argv += ["--device", "nvidia.com/gpu=all"] if runtime.kind == "podman" else ["--gpus", "all"]
    return [*argv, image, *inner]
