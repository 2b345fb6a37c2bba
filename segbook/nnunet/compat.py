"""The kit is tested against one nnU-Net release; anything else is refused up front."""

from __future__ import annotations

from importlib import metadata

from segbook.core.errors import EnvironmentProblem

REQUIRED_NNUNET = "2.8.1"


def installed_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def check_nnunet_version(installed: str | None = None) -> str:
    """Return the installed nnunetv2 version, or raise (exit 78) if it is not the pinned one."""
    found = installed if installed is not None else installed_version("nnunetv2")
    if found is None:
        raise EnvironmentProblem(
            "nnunetv2 is not installed",
            hint=f"install the pinned version: pip install nnunetv2=={REQUIRED_NNUNET} (or `make install`)",
        )
    if found != REQUIRED_NNUNET:
        raise EnvironmentProblem(
            f"nnunetv2 {found} is installed, but the kit needs exactly {REQUIRED_NNUNET}",
            hint=f"pip install nnunetv2=={REQUIRED_NNUNET}; the trainer API changed in 2.3.1 and 2.7.0",
        )
    return found
