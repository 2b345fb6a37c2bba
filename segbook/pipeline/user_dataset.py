"""A dataset given as a folder path: its manifest is made once and kept under the output root.

Keeping it (and its lock, beside it) means a second run on the same folder is checked against
what the first run pinned, exactly as catalog datasets are checked against manifests/locks/.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from segbook.core.errors import UsageProblem
from segbook.core.fsio import atomic_write_text

# A user dataset's target category is unknown to the kit; reports file it under the broadest
# one until the user writes a manifest with `segbook datasets init --target`.
DEFAULT_TARGET = "structure & lesion"
_PREFIX = re.compile(r"^(?:Dataset|Task)\d{2,3}_")


def manifest_for_folder(raw: Path, out_root: Path):
    from segbook.catalog import load_catalog  # noqa: PLC0415
    from segbook.catalog.manifest import DatasetManifest  # noqa: PLC0415
    from segbook.catalog.user_manifest import build_user_manifest  # noqa: PLC0415

    catalog = load_catalog()
    name = _PREFIX.sub("", raw.resolve().name) or "Dataset"
    try:
        data = build_user_manifest(name, raw, nnunet_id=None, target=DEFAULT_TARGET,
                                   taken_ids={m.nnunet_id for m in catalog})
    except UsageProblem as exc:
        raise UsageProblem(exc.message, hint=f"describe it first: segbook datasets init {name} --raw {raw} "
                                             "--target ... [--modality ...] [--id N], then finetune the "
                                             "manifest it writes with --raw") from exc
    path = out_root / "manifests" / f"{data['task_id']}.yaml"
    if not path.is_file():
        text = f"# made by `segbook finetune {raw}`; target unknown, filed as {DEFAULT_TARGET!r}\n"
        atomic_write_text(path, text + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110))
    return DatasetManifest.from_file(path)
