"""Who ran what where: kit revision, library versions, device, runtime."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

from segbook import __version__
from segbook.core.settings import Settings

TRACKED_PACKAGES = ("torch", "torchvision", "nnunetv2", "numpy", "SimpleITK", "batchgeneratorsv2",
                    "dynamic_network_architectures", "scipy", "pandas")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(settings: Settings) -> str | None:
    """The image bakes SEGBOOK_REVISION in; a checkout asks git (if git is there)."""
    if settings.revision:
        return settings.revision
    repo = Path(__file__).resolve().parents[2]
    if not (repo / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def kit_info(settings: Settings) -> dict:
    return {"version": __version__, "revision": git_revision(settings)}


def runtime_info(settings: Settings) -> dict:
    return {"kind": settings.runtime, "image": settings.image, "image_digest": settings.image_digest,
            "platform": platform.platform(), "machine": platform.machine()}


def device_info(device: str) -> dict:
    """Device and CUDA stack, for the receipt (imports torch: only the pipeline calls this)."""
    import torch  # noqa: PLC0415

    info = {"type": device, "name": platform.processor() or platform.machine(),
            "cuda": torch.version.cuda, "cudnn": None, "torch_threads": torch.get_num_threads()}
    if device == "cuda" and torch.cuda.is_available():
        info["name"] = torch.cuda.get_device_name(0)
        info["cudnn"] = torch.backends.cudnn.version()
    return info
