"""Effective settings: the ONLY module that reads os.environ.

Everything else receives a Settings object (or a value from it), so a run's effective
configuration can be written into its receipt and nothing changes behind the kit's back.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
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
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


def _detect_runtime(env: os._Environ | dict) -> str:
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


def load_settings(env: dict | None = None) -> Settings:
    env = os.environ if env is None else env

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
    )


def environ_snapshot(prefixes: tuple[str, ...] = ("nnUNet_", "SEGBOOK_", "OMP_", "CUDA_")) -> dict:
    """The environment variables that influence a run, for the receipt."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(prefixes)}


def process_environ() -> dict:
    """A copy of this process's environment, to build a child's environment from."""
    return dict(os.environ)
