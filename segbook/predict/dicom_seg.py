"""A prediction as a DICOM-SEG referencing its source series (highdicom), for viewers and PACS.

One segment per foreground label of the model's dataset.json, numbered 1..n in label order, marked
AUTOMATIC with the kit as the algorithm. Slice k of the prediction is frame k, on the series' k-th file
(the order the header index gave); empty frames are left out, as most tools write them.
"""

from __future__ import annotations

from pathlib import Path


def write_dicom_seg(prediction: Path, series, labels: dict, target: Path, *, version: str) -> Path:
    import highdicom as hd  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import pydicom  # noqa: PLC0415
    import SimpleITK as sitk  # noqa: PLC0415
    from pydicom.sr.codedict import codes  # noqa: PLC0415
    from pydicom.uid import generate_uid  # noqa: PLC0415

    from segbook.core.fsio import atomic_write_bytes  # noqa: PLC0415

    values = np.asarray(sitk.GetArrayFromImage(sitk.ReadImage(str(prediction))))
    sources = [pydicom.dcmread(str(path)) for path in series.files]
    foreground = sorted((int(v), str(name)) for name, v in labels.items() if int(v) != 0)
    algorithm = hd.AlgorithmIdentificationSequence(name="SegBook kit STU-Net/nnU-Net", version=version,
                                                   family=codes.cid7162.ArtificialIntelligence)
    descriptions = [hd.seg.SegmentDescription(segment_number=k + 1, segment_label=name,
                                              segmented_property_category=codes.SCT.Tissue,
                                              segmented_property_type=codes.SCT.Tissue, algorithm_type="AUTOMATIC",
                                              algorithm_identification=algorithm)
                    for k, (_, name) in enumerate(foreground)]
    masks = np.stack([values == value for value, _ in foreground], axis=-1).astype(np.uint8)  # (z, y, x, segments)
    seg = hd.seg.Segmentation(source_images=sources, pixel_array=masks, segmentation_type="BINARY",
                              segment_descriptions=descriptions, series_instance_uid=generate_uid(),
                              series_number=9000, sop_instance_uid=generate_uid(), instance_number=1,
                              manufacturer="SegBook kit", manufacturer_model_name="segbook predict",
                              software_versions=version, device_serial_number="none",
                              omit_empty_frames=bool(masks.any()))  # an empty prediction keeps its frames
    from io import BytesIO  # noqa: PLC0415

    buffer = BytesIO()
    seg.save_as(buffer)
    return atomic_write_bytes(target, buffer.getvalue())
