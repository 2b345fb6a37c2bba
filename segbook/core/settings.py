"""Effective settings: the ONLY module that reads os.environ.

Everything else receives a Settings object (or a value from it), so a run's effective
configuration can be written into its receipt and nothing changes behind the kit's back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

# Variables the kit itself understands; documented in the README.
ENV_OUT = "SEGBOOK_OUT"
ENV_WEIGHTS_DIR = "SEGBOOK_WEIGHTS_DIR"
ENV_RUNTIME = "SEGBOOK_RUNTIME"
ENV_IMAGE = "SEGBOOK_IMAGE"
ENV_IMAGE_DIGEST = "SEGBOOK_IMAGE_DIGEST"
ENV_REVISION = "SEGBOOK_REVISION"
ENV_TRAIN_CONFIG = "SEGBOOK_TRAIN_CONFIG"  # set by the kit for the nnU-Net trainer subprocess
ENV_MANIFESTS = "SEGBOOK_MANIFESTS"
ENV_PODMAN_RUNTIME = "SEGBOOK_PODMAN_RUNTIME"  # podman's OCI runtime for the kit's containers (e.g. runc)
ENV_LOCK_MODE = "SEGBOOK_LOCK_MODE"  # flock (default) | file: see segbook.core.locks
# fault injection for tests and drills: the trainer acts as if SIGUSR1 came after its N-th training
# iteration of the run (counted over all epochs, from 1)
ENV_STOP_AFTER_ITERATION = "SEGBOOK_STOP_AFTER_ITERATION"
ENV_SLURM_JOB = "SLURM_JOB_ID"
ENV_SLURM_ARRAY_JOB = "SLURM_ARRAY_JOB_ID"
ENV_SLURM_ARRAY_TASK = "SLURM_ARRAY_TASK_ID"
ENV_SLURM_RESTARTS = "SLURM_RESTART_COUNT"


@dataclass(frozen=True)
class Settings:
    out_root: Path = Path("segbook-out")
    weights_dir: Path | None = None
    runtime: str = "native"
    image: str | None = None
    image_digest: str | None = None
    revision: str | None = None
    manifests_dir: Path | None = None
    train_config: Path | None = None
    lock_mode: str = "flock"
    podman_runtime: str | None = None
    slurm_job: str | None = None  # "<array job>_<task>" or "<job>" when run by Slurm
    slurm_restarts: int = 0
    stop_after_iteration: int | None = None


    def as_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


def _detect_runtime(env: Mapping[str, str]) -> str:
    """native / docker / podman / apptainer / container (an image run some other way).

    Apptainer says so itself; run.sh and the image set SEGBOOK_RUNTIME; Podman leaves
    /run/.containerenv. /.dockerenv is not trusted: some VM images carry it natively.
    """
    if env.get("APPTAINER_CONTAINER") or env.get("SINGULARITY_CONTAINER"):
        return "apptainer"
    if env.get(ENV_RUNTIME):
        return env[ENV_RUNTIME]
    if Path("/run/.containerenv").exists():
        return "podman"
    return "native"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env: Mapping[str, str] = os.environ if environ is None else environ

    def path(name: str) -> Path | None:
        return Path(env[name]) if env.get(name) else None

    return Settings(
        out_root=path(ENV_OUT) or Path("segbook-out"),
        weights_dir=path(ENV_WEIGHTS_DIR),
        runtime=_detect_runtime(env),
        image=env.get(ENV_IMAGE) or None,
        image_digest=env.get(ENV_IMAGE_DIGEST) or None,
        revision=env.get(ENV_REVISION) or None,
        manifests_dir=path(ENV_MANIFESTS),
        train_config=path(ENV_TRAIN_CONFIG),
        lock_mode=_lock_mode(env),
        podman_runtime=env.get(ENV_PODMAN_RUNTIME) or None,
        slurm_job=_slurm_job(env),
        slurm_restarts=int(env.get(ENV_SLURM_RESTARTS) or 0),
        stop_after_iteration=int(env[ENV_STOP_AFTER_ITERATION]) if env.get(ENV_STOP_AFTER_ITERATION) else None,
    )


def _lock_mode(env) -> str:
    from segbook.core.errors import EnvironmentProblem  # noqa: PLC0415 - errors imports nothing heavy
    from segbook.core.locks import MODES  # noqa: PLC0415

    mode = env.get(ENV_LOCK_MODE) or "flock"
    if mode not in MODES:
        raise EnvironmentProblem(f"{ENV_LOCK_MODE}={mode!r} is not one of {', '.join(MODES)}",
                                 hint="flock for local disks and NFSv4/Lustre(-o flock)/GPFS; file elsewhere")
    return mode


def _slurm_job(env) -> str | None:
    if env.get(ENV_SLURM_ARRAY_JOB) and env.get(ENV_SLURM_ARRAY_TASK):
        return f"{env[ENV_SLURM_ARRAY_JOB]}_{env[ENV_SLURM_ARRAY_TASK]}"
    return env.get(ENV_SLURM_JOB) or None


def environ_snapshot(prefixes: tuple[str, ...] = ("nnUNet_", "SEGBOOK_", "OMP_", "CUDA_")) -> dict:
    """The environment variables that influence a run, for the receipt."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(prefixes)}


def process_environ() -> dict:
    """A copy of this process's environment, to build a child's environment from."""
    return dict(os.environ)
