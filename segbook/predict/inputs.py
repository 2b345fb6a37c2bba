"""The cases of `segbook predict`'s INPUT: one image file, or a folder of them.

A folder in nnU-Net's naming (`<case>_0000.nii.gz`, `<case>_0001.nii.gz`, ... one file per channel)
gives one case per name; a folder of other image files gives one single-channel case per file. The
channel count must be the model's (dataset.json `channel_names`). A folder with no such files is
read as DICOM series, one case each, by their headers (segbook.predict.dicom_input).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from segbook.core.errors import InputMissing, InvalidInput

IMAGE_ENDINGS = (".nii.gz", ".nii", ".mha", ".nrrd")
_CHANNEL = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")


@dataclass(frozen=True)
class InputCase:
    case_id: str
    files: tuple[Path, ...]  # channel 0, 1, ...


def _stem(path: Path) -> str | None:
    name = path.name
    return next((name[: -len(e)] for e in IMAGE_ENDINGS if name.endswith(e)), None)


def find_cases(source: Path, channels: int, dicom_work: Path) -> tuple[list[InputCase], dict]:
    """Every case in `source`, sorted, each with exactly `channels` files, and for DICOM input the series
    of each case ({} otherwise); InvalidInput (65) naming the first case that does not fit, InputMissing
    (66) when there is nothing to predict. A folder without image files is read as DICOM series."""
    source = Path(source)
    if not source.exists():
        raise InputMissing(f"no input at {source}", hint="give an image file or a folder of images")
    files = [source] if source.is_file() else sorted(p for p in source.iterdir() if p.is_file() and _stem(p))
    if not files:
        from segbook.predict.dicom_input import series_cases  # noqa: PLC0415 - pydicom on use

        return series_cases(source, dicom_work, channels)
    named: dict[str, dict[int, Path]] = {}
    for path in files:
        stem = _stem(path)
        match = _CHANNEL.match(stem or "")
        if match is None:
            named.setdefault(stem or path.name, {})[0] = path
        else:
            named.setdefault(match["case"], {})[int(match["channel"])] = path
    cases = []
    for case_id in sorted(named):
        by_channel = named[case_id]
        if sorted(by_channel) != list(range(channels)):
            raise InvalidInput(f"case {case_id} has channel file(s) {sorted(by_channel)}, the model needs "
                               f"{channels} (0 to {channels - 1})",
                               hint="name each case's channels <case>_0000, <case>_0001, ... as the model's "
                                    "dataset.json lists them")
        cases.append(InputCase(case_id, tuple(by_channel[c] for c in range(channels))))
    return cases, {}
