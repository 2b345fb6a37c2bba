"""The demo's downstream dataset, generated on first use into <out>/sources/."""

from __future__ import annotations

from pathlib import Path

from segbook.core.layout import sources_dir
from segbook.demo.phantoms import make_cases
from segbook.demo.writer import DEMO_DATASET_FOLDER, write_nnunet_raw

DEMO_TASK_ID = "Task999_SegBookDemo"
DEMO_DATA_SEED = 2024
DEMO_CASES = 10  # 2 held out for testing, 8 for training (5 folds need >= 5)


def ensure_demo_sources(out_root: Path, progress) -> Path:
    """Return the demo's raw dataset folder, generating it if absent.

    A folder that exists is reused as is: `segbook prepare` then checks it against the
    demo's lock in manifests/, so a tampered folder is caught there, not silently rebuilt.
    """
    target = sources_dir(out_root) / DEMO_DATASET_FOLDER
    if not (target / "dataset.json").is_file():
        progress(f"demo: generating {DEMO_CASES} synthetic MR-like phantoms (seed {DEMO_DATA_SEED})")
        write_nnunet_raw(make_cases("mr", DEMO_CASES, DEMO_DATA_SEED), target, replace=target.exists())
    return target
