"""Find the labelled cases of a raw download, for each layout a manifest may declare.

Layout kinds (manifest `prepare.layouts[].kind`):
- nnunet        nnU-Net v1/v2 task folder: dataset.json, imagesTr/<case>_<XXXX><ending>, labelsTr/;
                labelled test cases in imagesTs/ + labelsTs/ are included too.
- msd           Medical Segmentation Decathlon: dataset.json "training" list, one (4D) image per case.
- case_folders  generic: one folder per case (glob `cases`), one file pattern per channel and one
                for the label, relative to the case folder; `{case}` is the folder's name.
- files         generic: patterns relative to the raw folder with `{case}` in them.
Only discovery lives here; reading and checking the images is images.py's job.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from segbook.core.errors import InvalidInput, UsageProblem
from segbook.core.untrusted import read_json

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class RawCase:
    case_id: str
    images: tuple[Path, ...]  # one per channel, or one 4D volume holding all channels
    label: Path
    reader: str = "volume"  # how the case is read: a key of segbook.convert.readers.READERS
    detail: Any = None  # what that reader needs beyond the paths (label parts, DICOM series)
    group: str | None = None  # e.g. the patient: cases of one group stay on one side of the split
    extra: tuple[Path, ...] = ()  # further files the case is read from (label parts, DICOM slices)

    @property
    def files(self) -> tuple[Path, ...]:
        return (*self.images, self.label, *self.extra)


@dataclass(frozen=True)
class Discovery:
    layout: str  # layout name as shown to users
    spec: dict  # the manifest's layout entry that matched
    root: Path  # folder the cases were found in (may be below --raw)
    cases: tuple[RawCase, ...]
    notes: tuple[str, ...] = ()


def visible(folder: Path) -> list[Path]:
    """Entries of a folder, without hidden files, macOS `._*` forks and __MACOSX."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX")


def case_id_from(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_") or "case"


def layout_title(spec: dict) -> str:
    titles = {"nnunet": "nnU-Net folder", "msd": "MSD download"}
    return spec.get("name") or titles.get(spec["kind"], spec["kind"])


def _read_dataset_json(root: Path) -> dict:
    try:
        data = read_json(root / "dataset.json")
    except OSError as exc:
        raise InvalidInput(f"{root / 'dataset.json'} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{root / 'dataset.json'} is not a JSON object")
    return data


def _check_channel_count(root: Path, declared, manifest) -> None:
    if declared is not None and not isinstance(declared, dict):
        raise InvalidInput(f"{root / 'dataset.json'}: channel_names/modality must be an object like "
                           f'{{"0": "CT"}}, not {type(declared).__name__} {declared!r:.40}',
                           hint="fix dataset.json, or write a manifest with `segbook datasets init`")
    if declared and len(declared) != manifest.num_channels:
        raise InvalidInput(f"{root / 'dataset.json'} declares {len(declared)} channels, "
                           f"{manifest.task_id} has {manifest.num_channels}",
                           hint="is this the right dataset for the manifest?")


def _declared_channels(data: dict):
    """channel_names (v2) or modality (v1/MSD); whichever is present, as written."""
    return data["channel_names"] if "channel_names" in data else data.get("modality")


# -- nnU-Net v1/v2 --------------------------------------------------------------------------
def _nnunet_ending(root: Path) -> str | None:
    needed = (root / "dataset.json").is_file(), (root / "imagesTr").is_dir(), (root / "labelsTr").is_dir()
    if not all(needed):
        return None
    ending = _read_dataset_json(root).get("file_ending", ".nii.gz")
    found = any(p.name.endswith(f"_0000{ending}") for p in visible(root / "imagesTr"))
    return ending if found else None


def _discover_nnunet(root: Path, spec: dict, manifest) -> Discovery:
    data = _read_dataset_json(root)
    ending = data.get("file_ending", ".nii.gz")
    _check_channel_count(root, _declared_channels(data), manifest)
    pattern = re.compile(rf"^(.*)_(\d{{4}}){re.escape(ending)}$")
    cases: list[RawCase] = []
    seen: dict[str, Path] = {}  # case id -> its label, to name both sides of a duplicate
    notes: list[str] = []
    for img_dir, lbl_dir in (("imagesTr", "labelsTr"), ("imagesTs", "labelsTs")):
        if not (root / lbl_dir).is_dir():
            if (root / img_dir).is_dir() and visible(root / img_dir):
                notes.append(f"{img_dir}/ has no {lbl_dir}/: its unlabelled images are not used")
            continue
        images: dict[str, dict[int, Path]] = {}
        for path in visible(root / img_dir) if (root / img_dir).is_dir() else []:
            match = pattern.match(path.name)
            if match:
                images.setdefault(match.group(1), {})[int(match.group(2))] = path
        labels = {p.name[: -len(ending)]: p for p in visible(root / lbl_dir) if p.name.endswith(ending)}
        unlabelled = sorted(set(images) - set(labels))
        if unlabelled:
            raise InvalidInput(f"case {unlabelled[0]} in {img_dir}/ has no label in {lbl_dir}/",
                               hint="every case needs a label file with the same name")
        for name, label in sorted(labels.items()):
            chans = images.get(name, {})
            for i in range(manifest.num_channels):
                if i not in chans:
                    raise InvalidInput(f"case {name} has no channel {i:04d} "
                                       f"({img_dir}/{name}_{i:04d}{ending})")
            if len(chans) > manifest.num_channels:
                raise InvalidInput(f"case {name} has {len(chans)} channel files, "
                                   f"{manifest.task_id} declares {manifest.num_channels}")
            _add(cases, seen, RawCase(case_id_from(name), tuple(chans[i] for i in sorted(chans)), label))
    return Discovery(layout_title(spec), spec, root, tuple(cases), tuple(notes))


# -- Medical Segmentation Decathlon -----------------------------------------------------------
def _msd_entries(root: Path) -> list | None:
    if not ((root / "dataset.json").is_file() and (root / "imagesTr").is_dir()):
        return None
    training = _read_dataset_json(root).get("training")
    if not isinstance(training, list) or not training or not isinstance(training[0], dict):
        return None
    first = training[0].get("image")
    return training if isinstance(first, str) and (root / first).is_file() else None


def _msd_file(root: Path, real_root: Path, index: int, entry, key: str) -> Path:
    """training[index][key] as a path; it must resolve (links followed) inside the download folder.

    A hostile dataset.json could otherwise pull any readable file (`../../etc/...`, `/home/...`)
    into the prepared dataset."""
    where = f"{root / 'dataset.json'}: training[{index}]"
    value = entry.get(key) if isinstance(entry, dict) else None
    if not isinstance(value, str) or not value or "\0" in value:
        raise InvalidInput(f"{where}.{key} is not a file name: {value!r:.80}",
                           hint='each training entry needs "image" and "label" paths like ./imagesTr/x.nii.gz')
    real = Path(os.path.realpath(root / value))
    if Path(value).is_absolute() or not real.is_relative_to(real_root):
        raise InvalidInput(f"{where}.{key} {value!r:.80} points outside the download folder {root}",
                           hint="a dataset.json may only name files inside --raw; fix the entry or the download")
    return root / value


def _discover_msd(root: Path, spec: dict, manifest) -> Discovery:
    data = _read_dataset_json(root)
    _check_channel_count(root, data.get("modality"), manifest)
    cases: list[RawCase] = []
    seen: dict[str, Path] = {}  # case id -> its label, to name both sides of a duplicate
    real_root = Path(os.path.realpath(root))
    for index, entry in enumerate(data["training"]):
        image, label = (_msd_file(root, real_root, index, entry, "image"),
                        _msd_file(root, real_root, index, entry, "label"))
        name = Path(entry["image"]).name.removesuffix(".nii.gz")
        if not image.is_file():
            raise InvalidInput(f"case {name} has no image ({image})")
        if not label.is_file():
            raise InvalidInput(f"case {name} has no label ({label})")
        _add(cases, seen, RawCase(case_id_from(name), (image,), label))
    return Discovery("MSD download", spec, root, tuple(cases))


# -- generic patterns --------------------------------------------------------------------------
def _one(folder: Path, pattern: str, case: str, what: str) -> Path:
    hits = _matches(folder, pattern)
    if not hits:
        raise InvalidInput(f"case {case} has no {what} (no file matches {pattern!r} in {folder})")
    if len(hits) > 1:
        raise InvalidInput(f"case {case}: {len(hits)} files match {pattern!r} for its {what}",
                           hint="make the manifest's pattern more specific")
    return hits[0]


def _matches(folder: Path, pattern: str) -> list[Path]:
    return [p for p in sorted(folder.glob(pattern)) if p.is_file() and not p.name.startswith(".")]


def _anchor(spec: dict) -> str:
    """The pattern that finds the cases: the label, or the first channel where the label comes in parts."""
    return spec.get("label") or spec["channels"][0]


def _case_dirs(root: Path, spec: dict) -> list[Path]:
    globs = spec["cases"] if isinstance(spec["cases"], list) else [spec["cases"]]  # list: folders at several depths
    found = {p for pattern in globs for p in root.glob(pattern) if p.is_dir() and not p.name.startswith(".")}
    return sorted(found)


def _has_case_folder(root: Path, spec: dict) -> bool:
    """A folder matching `cases` that holds the label: `cases: "*"` alone would match a wrapper folder."""
    return any(_labelled(folder, spec, folder.name) for folder in _case_dirs(root, spec))


def _labelled(folder: Path, spec: dict, name: str) -> bool:
    patterns = [spec["label"]] if spec.get("label") else [p["file"] for p in spec["label_parts"]]
    return any(any(folder.glob(p.replace("{case}", name))) for p in patterns)


def _discover_case_folders(root: Path, spec: dict, manifest) -> Discovery:
    cases: list[RawCase] = []
    seen: dict[str, Path] = {}  # case id -> its label, to name both sides of a duplicate
    unlabelled = 0
    for folder in _case_dirs(root, spec):
        if not _labelled(folder, spec, folder.name):
            unlabelled += 1  # a wrapper or an unlabelled case folder
            continue
        case = case_id_from(folder.relative_to(root).as_posix())
        _add_case(cases, seen, spec, case, folder, folder.name)
    return Discovery(layout_title(spec), spec, root, tuple(cases), _unlabelled_note(spec, unlabelled))


def _files_regex(pattern: str) -> re.Pattern:
    """`{case}` may appear more than once (BIDS: sub-X/sub-X_ct.nii.gz): later ones must repeat the first.
    `**/` stands for any number of folders, `*` and `?` stay within one."""
    def part_regex(part: str) -> str:
        out = re.escape(part).replace(r"\*\*/", "(?:[^/]+/)*")
        return out.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    parts = [part_regex(p) for p in pattern.split("{case}")]
    regex = parts[0]
    for index, part in enumerate(parts[1:]):
        regex += ("(?P<case>[^/]+)" if index == 0 else "(?P=case)") + part
    return re.compile("^" + regex + "$")


def _discover_files(root: Path, spec: dict, manifest) -> Discovery:
    anchor = _anchor(spec)
    regex = _files_regex(anchor)
    cases: list[RawCase] = []
    seen: dict[str, Path] = {}  # case id -> its label, to name both sides of a duplicate
    unlabelled = 0
    for found in sorted(root.glob(anchor.replace("{case}", "*"))):
        match = regex.match(found.relative_to(root).as_posix())
        if not match or found.name.startswith("."):
            continue
        name = match.group("case")
        if spec.get("label") is None and not _labelled(root, spec, name):
            unlabelled += 1
            continue
        _add_case(cases, seen, spec, case_id_from(name), root, name)
    return Discovery(layout_title(spec), spec, root, tuple(cases), _unlabelled_note(spec, unlabelled))


def _unlabelled_note(spec: dict, count: int) -> tuple[str, ...]:
    if not count or not spec.get("label_parts"):
        return ()
    return (f"{count} images have no label file: they are not used",)


def _add_case(cases: list[RawCase], seen: dict[str, Path], spec: dict, case: str, folder: Path, name: str) -> None:
    """One case found by the anchor: its channel files, its label (one file or parts), its group.
    Patterns are relative to `folder` (the case folder, or the raw folder for `files`)."""
    if not re.fullmatch(spec.get("case_regex", ".*"), case) or case in spec.get("exclude", ()):
        return
    images = tuple(_one(folder, pat.replace("{case}", name), case, f"channel {i:04d}")
                   for i, pat in enumerate(spec["channels"]))
    group = re.match(spec["group"], case) if spec.get("group") else None
    if spec.get("label"):
        label = _one(folder, spec["label"].replace("{case}", name), case, "label")
        _add(cases, seen, RawCase(case, images, label, group=group.group(1) if group else None))
        return
    parts = []
    for part in spec["label_parts"]:
        files = tuple(_matches(folder, part["file"].replace("{case}", name)))
        if not files and not part.get("optional"):
            raise InvalidInput(f"case {case} has no label part {part['file']!r} (value {part['value']}) in {folder}",
                               hint="every case needs each label file the manifest lists (optional ones excepted)")
        parts.append((int(part["value"]), files))
    found = [f for _, files in parts for f in files]
    if not found:
        raise InvalidInput(f"case {case} has none of its label files in {folder}")
    _add(cases, seen, RawCase(case, images, found[0], reader="label_parts", detail=tuple(parts),
                              group=group.group(1) if group else None, extra=tuple(found[1:])))


def _add(cases: list[RawCase], seen: dict[str, Path], case: RawCase) -> None:
    if case.case_id in seen:
        raise InvalidInput(f"duplicate case id {case.case_id}: {seen[case.case_id]} and {case.label}",
                           hint="two cases map to the same name; rename one of them")
    seen[case.case_id] = case.label
    cases.append(case)


_DETECT = {
    "nnunet": lambda root, spec: _nnunet_ending(root) is not None,
    "msd": lambda root, spec: _msd_entries(root) is not None,
    "case_folders": lambda root, spec: _has_case_folder(root, spec),
    "files": lambda root, spec: any(root.glob(_anchor(spec).replace("{case}", "*"))),
}
_DISCOVER = {"nnunet": _discover_nnunet, "msd": _discover_msd,
             "case_folders": _discover_case_folders, "files": _discover_files}


def select_layouts(manifest, layout: str | None) -> list[dict]:
    specs = list(manifest.layouts)
    if layout is None:
        return specs
    chosen = [s for s in specs if layout.casefold() in (s["kind"].casefold(), layout_title(s).casefold())]
    if not chosen:
        names = ", ".join(s["kind"] for s in specs)
        raise UsageProblem(f"{manifest.task_id} has no layout {layout!r}", hint=f"choose one of: {names}")
    return chosen


# Layouts read by a module of their own (detect, discover, and a reader registered in readers.py).
MODULE_LAYOUTS = {"dicom": "segbook.convert.dicom.layout", "chaos": "segbook.convert.chaos"}


def _module(kind: str):
    return import_module(MODULE_LAYOUTS[kind])


def _detect(root: Path, spec: dict) -> bool:
    if spec["kind"] in MODULE_LAYOUTS:
        return _module(spec["kind"]).detect(root, spec)
    return _DETECT[spec["kind"]](root, spec)


def _discover(root: Path, spec: dict, manifest, cache_dir: Path | None) -> Discovery:
    if spec["kind"] not in MODULE_LAYOUTS:
        return _DISCOVER[spec["kind"]](root, spec, manifest)
    cases: list[RawCase] = []
    seen: dict[str, Path] = {}  # case id -> its label, to name both sides of a duplicate
    for case in _module(spec["kind"]).discover(root, spec, manifest, cache_dir):
        _add(cases, seen, case)
    return Discovery(layout_title(spec), spec, root, tuple(cases))


def discover(manifest, raw_dir: Path, layout: str | None = None, cache_dir: Path | None = None) -> Discovery:
    """Cases of the first declared layout that matches; descends through single-folder wrappers.
    `cache_dir` keeps what is slow to find again (the header index of a DICOM tree)."""
    specs = select_layouts(manifest, layout)
    root = Path(raw_dir)
    while True:
        for spec in specs:
            if _detect(root, spec):
                return _discover(root, spec, manifest, cache_dir)
        children = visible(root)
        if len(children) == 1 and children[0].is_dir():
            root = children[0]
            continue
        break
    raise InvalidInput(f"{raw_dir} is not in a layout {manifest.task_id} can be prepared from "
                       f"({', '.join(layout_title(s) for s in specs)})",
                       hint="point --raw at the unpacked download; docs/catalog.md shows each layout")
