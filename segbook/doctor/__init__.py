"""`segbook doctor`: one screen on whether this environment can run the kit."""

from __future__ import annotations

from pathlib import Path

from segbook.core.settings import Settings
from segbook.doctor import checks as _checks
from segbook.doctor.checks import FAIL, INFO, OK, WARN, Check

__all__ = ["FAIL", "INFO", "OK", "WARN", "Check", "run_checks"]


def run_checks(*, settings: Settings, out_root: Path | None = None,
               weights_dir: Path | None = None, registry: Path | None = None,
               require_gpu: bool = False, hash_weights: bool = True) -> list[Check]:
    """Every check, in display order. Never raises for an environment problem: it reports it.
    `settings` are the caller's (read once, by the api or the CLI): doctor never reads the environment."""
    out_root = out_root or settings.out_root
    weights_dir = weights_dir or settings.weights_dir
    return [
        *_checks.check_python(),
        *_checks.check_kit(settings),
        *_checks.check_libraries(),
        *_checks.check_gpu(require_gpu),
        *_checks.check_paths(settings, out_root),
        *_checks.check_network(),
        *_checks.check_manifests(settings.manifests_dir),
        *_checks.check_weights(settings, weights_dir, registry, hash_weights),
        *_checks.check_container(settings),
    ]
