"""Per-label segmentation metrics on label maps: Dice, NSD, HD95 and volumes (numpy/scipy).

Definitions (see docs/metrics.md):
  * Dice = 2|P∩R| / (|P|+|R|).
  * Surfaces are area-weighted surfels on the voxel-corner grid (segbook.evaluate.surfels),
    distances are Euclidean in mm between surfel positions (spacing-aware).
  * NSD at tolerance tau (Nikolov et al.): area of surfels of each surface lying within tau of
    the other surface, divided by the total area of both surfaces.
  * HD95 (DeepMind's "robust Hausdorff"): for each direction, the distance below which 95 %
    of that surface's AREA lies (area-weighted, no interpolation); the larger of the two.
Empty masks follow MONAI / nnU-Net: both empty -> Dice, NSD, HD95 are NaN ("not defined",
left out of means); exactly one empty -> Dice 0, NSD 0, HD95 +inf.

Each label is evaluated on the bounding box of (prediction ∪ reference) for that label,
found for all labels in one pass by scipy.ndimage.find_objects, so the cost grows with the
size of the structures, not with the size of the volume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from segbook.evaluate.surfels import area_table, neighbour_codes

HD_PERCENT = 95.0


@dataclass(frozen=True)
class SurfaceDistances:
    """Directed surfel distances (mm) and surfel areas (mm^2) of two non-empty masks."""

    ref_to_pred: np.ndarray
    pred_to_ref: np.ndarray
    ref_areas: np.ndarray
    pred_areas: np.ndarray


def surface_distances(ref: np.ndarray, pred: np.ndarray, spacing) -> SurfaceDistances:
    """Surfel distances between two non-empty bool masks of the same (cropped) shape."""
    table = area_table(spacing)
    sampling = tuple(float(s) for s in spacing)
    codes_ref = neighbour_codes(ref)
    codes_pred = neighbour_codes(pred)
    border_ref = (codes_ref != 0) & (codes_ref != 255)
    border_pred = (codes_pred != 0) & (codes_pred != 255)
    # Distance of every corner to the nearest surfel of the other surface, in mm.
    dist_to_ref = ndimage.distance_transform_edt(~border_ref, sampling=sampling)
    dist_to_pred = ndimage.distance_transform_edt(~border_pred, sampling=sampling)
    return SurfaceDistances(
        ref_to_pred=dist_to_pred[border_ref],
        pred_to_ref=dist_to_ref[border_pred],
        ref_areas=table[codes_ref[border_ref]],
        pred_areas=table[codes_pred[border_pred]],
    )


def normalized_surface_dice(d: SurfaceDistances, tolerance_mm: float) -> float:
    within = (d.ref_areas[d.ref_to_pred <= tolerance_mm].sum()
              + d.pred_areas[d.pred_to_ref <= tolerance_mm].sum())
    total = d.ref_areas.sum() + d.pred_areas.sum()
    return float(within / total) if total > 0 else float("nan")


def _area_percentile(distances: np.ndarray, areas: np.ndarray, percent: float) -> float:
    order = np.argsort(distances)
    distances, areas = distances[order], areas[order]
    cumulative = np.cumsum(areas) / np.sum(areas)
    index = int(np.searchsorted(cumulative, percent / 100.0))
    return float(distances[min(index, len(distances) - 1)])


def robust_hausdorff(d: SurfaceDistances, percent: float = HD_PERCENT) -> float:
    return max(_area_percentile(d.ref_to_pred, d.ref_areas, percent),
               _area_percentile(d.pred_to_ref, d.pred_areas, percent))


def binary_metrics(ref: np.ndarray, pred: np.ndarray, spacing, tolerance_mm: float) -> dict:
    """All metrics of one pair of bool masks (any shape that contains both masks)."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    n_ref = int(np.count_nonzero(ref))
    n_pred = int(np.count_nonzero(pred))
    n_both = int(np.count_nonzero(ref & pred))
    out = {
        "dice": 2.0 * n_both / (n_ref + n_pred) if n_ref + n_pred else float("nan"),
        "nsd": float("nan"),
        "hd95": float("nan"),
        "volume_ref_ml": n_ref * voxel_ml,
        "volume_pred_ml": n_pred * voxel_ml,
        "volume_difference_ml": (n_pred - n_ref) * voxel_ml,
        "ref_voxels": n_ref,
        "pred_voxels": n_pred,
    }
    if n_ref and n_pred:
        distances = surface_distances(ref, pred, spacing)
        out["nsd"] = normalized_surface_dice(distances, tolerance_mm)
        out["hd95"] = robust_hausdorff(distances)
    elif n_ref or n_pred:  # one side empty: no overlap, infinitely far
        out["nsd"] = 0.0
        out["hd95"] = float("inf")
    return out


def _union_box(a: tuple[slice, ...] | None, b: tuple[slice, ...] | None) -> tuple[slice, ...] | None:
    if a is None or b is None:
        return a or b
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b, strict=True))


def _boxes(label_map: np.ndarray, max_label: int) -> list:
    boxes = ndimage.find_objects(label_map, max_label=max_label)
    return [None, *boxes]  # index by label value


def label_map_metrics(ref: np.ndarray, pred: np.ndarray, spacing, labels,
                      tolerances: dict[int, float]) -> dict:
    """Metrics of every foreground label of two integer label maps of the same shape.

    `spacing` is in array-axis order (mm); `labels` the foreground label values to report.
    Returns {label: metrics dict}.
    """
    if ref.shape != pred.shape:
        raise ValueError(f"shape mismatch {ref.shape} vs {pred.shape}")
    labels = sorted(int(v) for v in labels)
    top = max(labels, default=0)
    ref_boxes, pred_boxes = _boxes(ref, top), _boxes(pred, top)
    results = {}
    for value in labels:
        box = _union_box(ref_boxes[value], pred_boxes[value])
        if box is None:
            ref_crop = pred_crop = np.zeros((1, 1, 1), dtype=bool)
        else:
            ref_crop, pred_crop = ref[box] == value, pred[box] == value
        results[value] = binary_metrics(ref_crop, pred_crop, spacing, tolerances[value])
    return results


def present_labels(label_map: np.ndarray) -> set[int]:
    """Label values present in an integer label map (0 included when present)."""
    if label_map.size == 0:
        return set()
    low, high = int(label_map.min()), int(label_map.max())
    if low < 0 or high > 65535:  # find_objects would allocate one entry per value
        return {int(v) for v in np.unique(label_map)}
    values = {index + 1 for index, box in enumerate(ndimage.find_objects(label_map)) if box is not None}
    if low == 0:
        values.add(0)
    return values
