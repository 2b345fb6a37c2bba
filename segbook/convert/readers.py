"""One registry of case readers: how a discovered case's files become channel images and a label.

Each reader takes (RawCase, manifest, layout spec) and returns (one 3D image per channel, the label
image on the first channel's grid or close to it); segbook.convert.images.convert_case then checks
the grids, remaps and checks the label values and writes the case. Readers are imported when first
asked for, so preparing a NIfTI dataset never imports pydicom.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from segbook.core.errors import InvalidInput

# reader name -> "module:function"
READERS = {
    "volume": "segbook.convert.images:read_volume_case",
    "label_parts": "segbook.convert.label_parts:read_label_parts_case",
    "dicom": "segbook.convert.dicom.layout:read_case",
    "chaos": "segbook.convert.chaos:read_case",
}


def reader_for(name: str) -> Callable:
    if name not in READERS:
        raise InvalidInput(f"unknown case reader {name!r}", hint=f"readers: {', '.join(sorted(READERS))}")
    module, function = READERS[name].split(":")
    return getattr(import_module(module), function)
