"""The "label_parts" reader: a label map assembled from several files (one per structure or reader).

LAScarQS ships the atrium and the scar as two binary files, HaN-Seg one .seg.nrrd per organ, LNDb one
mask per radiologist. Each part is (value, files): the non-zero voxels of each of its files get that
value (several files of one part, e.g. readers, are united). Parts are applied in the order the
manifest lists them, so where two overlap the later one wins: the manifest states the rule by its order.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from segbook.convert.images import channel_images, match_grid, read_label_volume


def read_label_parts_case(raw_case, manifest, spec: dict) -> tuple[list[sitk.Image], sitk.Image]:
    case = raw_case.case_id
    images = channel_images(raw_case.images, manifest.num_channels, case, manifest.task_id)
    reference = images[0]
    out = np.zeros(sitk.GetArrayViewFromImage(reference).shape, dtype=np.int64)
    for value, files in raw_case.detail:
        for path in files:
            part = match_grid(reference, read_label_volume(path, case), case, f"label part {path.name}")
            out[sitk.GetArrayViewFromImage(part) != 0] = value
    label = sitk.GetImageFromArray(out.astype(np.uint16))
    label.CopyInformation(reference)
    return images, label
