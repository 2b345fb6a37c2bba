"""A trained cell as a zip in nnU-Net's model layout, with the proof of what it is.

    <DatasetNNN_Name>/<trainer>__<plans>__<configuration>/
        dataset.json, plans.json
        fold_<f>/checkpoint_final.pth
        fold_<f>/segbook_receipt.json    the run's receipt, unchanged
        MODEL_CARD.md                    dataset, configuration, protocol, metrics, licence and access
        SHA256SUMS                       every other file of the folder (`sha256sum -c` reads it there)

`nnUNetv2_install_pretrained_model_from_zip` unpacks it into nnUNet_results as it is. Reading one
back (`segbook predict MODEL.zip`), the kit unpacks it with the safe unpacker (segbook.convert.archive)
and checks every file against SHA256SUMS, none missing and none extra, before anything is loaded.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

from segbook.core.errors import Differences, InvalidInput, OutputBlocked
from segbook.core.hashing import sha256_bytes, sha256_file

SUMS = "SHA256SUMS"
CARD = "MODEL_CARD.md"
FOLD_RECEIPT = "segbook_receipt.json"
MAX_SUMS_BYTES = 1 << 20  # a SHA256SUMS line per file: a few hundred bytes for a five-fold model


def members_of(models, card: str) -> dict[str, Path | bytes]:
    """Archive name -> source file (or bytes) for the folds of one cell, SHA256SUMS last."""
    first = models[0]
    root = f"{first.model_folder.parent.name}/{first.model_folder.name}"
    members: dict[str, Path | bytes] = {f"{root}/dataset.json": first.model_folder / "dataset.json",
                                        f"{root}/plans.json": first.model_folder / "plans.json"}
    for model in models:
        members[f"{root}/fold_{model.fold}/checkpoint_final.pth"] = model.checkpoint
        members[f"{root}/fold_{model.fold}/{FOLD_RECEIPT}"] = model.receipt_path
    members[f"{root}/{CARD}"] = card.encode("utf-8")
    lines = []
    for name, source in sorted(members.items()):
        digest = sha256_bytes(source) if isinstance(source, bytes) else sha256_file(source)
        lines.append(f"{digest}  {name[len(root) + 1:]}\n")
    members[f"{root}/{SUMS}"] = "".join(lines).encode("utf-8")
    return members


def write_archive(members: dict[str, Path | bytes], target: Path, *, force: bool) -> Path:
    """The zip, written under a temporary name beside `target` and renamed (never half a zip)."""
    target = Path(target)
    if target.exists() and not force:
        raise OutputBlocked(f"{target} exists", hint="pass --force to replace it, or choose another --out")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(partial, "w", allowZip64=True) as zf:
            for name, source in members.items():
                # checkpoints barely compress and STU-Net-H's is 5.6 GB: stored; the small text files deflated
                method = zipfile.ZIP_STORED if name.endswith(".pth") else zipfile.ZIP_DEFLATED
                if isinstance(source, bytes):
                    zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), source, compress_type=method)
                else:
                    zf.write(source, name, compress_type=method)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target


def _read_sums(path: Path) -> dict[str, str]:
    if path.stat().st_size > MAX_SUMS_BYTES:
        raise InvalidInput(f"{path} is larger than a checksum list can be ({path.stat().st_size} bytes)")
    sums = {}
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or not name:
            raise InvalidInput(f"{path}: line {number} is not `<sha256>  <file>`", hint="the archive is damaged")
        sums[name] = digest
    return sums


def checked_model_root(unpacked: Path, archive: Path) -> Path:
    """The model folder of an unpacked archive, once every file matches SHA256SUMS (Differences, 1,
    naming each file that differs, is missing or is not listed; InvalidInput, 65, for a malformed one)."""
    roots = sorted(p.parent for p in unpacked.glob(f"*/*/{SUMS}"))
    if len(roots) != 1:
        raise InvalidInput(f"{archive} is not a segbook model archive (expected one <Dataset>/<model>/{SUMS}, "
                           f"found {len(roots)})", hint="make one with `segbook export`")
    root = roots[0]
    sums = _read_sums(root / SUMS)
    present = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != SUMS}
    stray = sorted(str(p.relative_to(unpacked)) for p in unpacked.rglob("*")
                   if p.is_file() and root not in p.parents and not p.name.startswith(".segbook-"))
    problems = [f"{name}: not in {SUMS}" for name in sorted(present - set(sums))]
    problems += [f"{name}: listed in {SUMS}, missing" for name in sorted(set(sums) - present)]
    problems += [f"{name}: outside the model folder" for name in stray]
    found = {name: sha256_file(root / name) for name in sorted(present & set(sums))}  # each file read once
    problems += [f"{name}: sha256 {digest[:16]}, {SUMS} says {sums[name][:16]}"
                 for name, digest in found.items() if digest != sums[name]]
    if problems:
        raise Differences(f"{archive} does not match its {SUMS} ({len(problems)} problem(s)): nothing was loaded",
                          hint="the archive was altered or damaged: get it again from whoever exported it",
                          details=tuple(problems))
    return root
