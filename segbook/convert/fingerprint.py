"""Near-duplicate fingerprints: the same scan re-saved (another dtype, a small crop, an intensity
rescale) gives (almost) the same fingerprint; different scans give different ones.

A content hash changes with any such re-save; this does not. docs/leakage.md describes it:

1. Sub-sample: every s-th voxel per axis (s = ceil(size / 64)), a view, no copy of the volume;
   the small image is put in LPS orientation (so a re-oriented copy looks the same).
2. Normalise intensities by rank-based limits: w = clip((x - q2) / (q98 - q2), 0, 1), with q2/q98
   the 2nd/98th percentiles. Invariant to dtype and to any rescale a*x + b with a > 0.
3. Anchor a box on the content, not on the array: along each axis, the centroid +- 1 standard
   deviation of the w-weighted marginal. Air (w = 0) does not move it, so cropping background
   leaves the box where it was, and a small crop of tissue moves it a little.
4. Mean w (trilinear, 3 x 3 x 3 points) in each cell of a 6 x 6 x 6 grid over the box, z-scored
   (216 numbers, kept as float16).
Similarity of two fingerprints: their Pearson correlation (a dot product / 216). Pairs at or above
NEAR_DUPLICATE_THRESHOLD are reported as near-duplicates: a warning for a person to look at, never
a reason to refuse.
"""

from __future__ import annotations

import base64
import math

import numpy as np

FINGERPRINT_VERSION = "segbook-fp/1"
GRID = 6
MAX_SAMPLES = 64  # per axis, after sub-sampling
BOX_SD = 1.0
POINTS = 3  # sample points per cell and axis
LOW_Q, HIGH_Q = 2.0, 98.0
NEAR_DUPLICATE_THRESHOLD = 0.90
_CHUNK = 1024  # rows of the similarity matrix computed at once


def _small_canonical(image):
    """A sub-sampled copy of a 3D scalar image (channel 0 of vector/4D images), LPS-oriented."""
    import SimpleITK as sitk  # noqa: PLC0415

    if image.GetNumberOfComponentsPerPixel() > 1:
        image = sitk.VectorIndexSelectionCast(image, 0)
    if image.GetDimension() == 4:
        size = list(image.GetSize())
        image = sitk.Extract(image, [*size[:3], 0], [0, 0, 0, 0])
    steps = [max(1, math.ceil(n / MAX_SAMPLES)) for n in image.GetSize()]
    small = image[::steps[0], ::steps[1], ::steps[2]]
    try:
        small = sitk.DICOMOrient(small, "LPS")
    except RuntimeError:  # a direction DICOMOrient cannot handle (oblique): keep the array order
        pass
    return sitk.GetArrayFromImage(small).astype(np.float64)


def _box(weights: np.ndarray, axis: int) -> tuple[float, float]:
    """Centroid -+ BOX_SD standard deviation of the w-weighted marginal (sample coordinates)."""
    other = tuple(i for i in range(3) if i != axis)
    marginal = weights.sum(axis=other)
    n = marginal.shape[0]
    total = marginal.sum()
    if total <= 0:
        return 0.0, float(n - 1)
    index = np.arange(n, dtype=np.float64)
    centre = float((index * marginal).sum() / total)
    sd = math.sqrt(float(((index - centre) ** 2 * marginal).sum() / total))
    return max(0.0, centre - BOX_SD * sd), min(float(n - 1), centre + BOX_SD * sd)


def _cell_means(weights: np.ndarray, boxes) -> np.ndarray:
    """Mean of `weights` (trilinear) over POINTS^3 points in each cell of the GRID^3 grid of the box."""
    from scipy.ndimage import map_coordinates  # noqa: PLC0415

    n = GRID * POINTS
    axes = [lo + (np.arange(n) + 0.5) * (hi - lo) / n for lo, hi in boxes]
    coords = np.stack(np.meshgrid(*axes, indexing="ij")).reshape(3, -1)
    values = map_coordinates(weights, coords, order=1, mode="nearest").reshape(n, n, n)
    return values.reshape(GRID, POINTS, GRID, POINTS, GRID, POINTS).mean(axis=(1, 3, 5))


def fingerprint_array(array: np.ndarray) -> np.ndarray:
    """The 216-number fingerprint of a small 3D float array (see the module doc)."""
    if array.ndim != 3 or array.size == 0:
        return np.zeros(GRID ** 3, dtype=np.float16)
    low, high = np.percentile(array, [LOW_Q, HIGH_Q])
    if not high > low:
        return np.zeros(GRID ** 3, dtype=np.float16)
    weights = np.clip((array - low) / (high - low), 0.0, 1.0)
    boxes = [_box(weights, axis) for axis in range(3)]
    cells = _cell_means(weights, boxes).ravel()
    spread = cells.std()
    if not spread > 0:
        return np.zeros(GRID ** 3, dtype=np.float16)
    return ((cells - cells.mean()) / spread).astype(np.float16)


def image_fingerprint(image) -> np.ndarray:
    """Fingerprint of a SimpleITK image (3D; channel 0 of 4D or vector images)."""
    return fingerprint_array(_small_canonical(image))


def encode(fp: np.ndarray) -> str:
    return base64.b64encode(np.asarray(fp, dtype="<f2").tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray:
    fp = np.frombuffer(base64.b64decode(text), dtype="<f2")
    if fp.shape != (GRID ** 3,):
        raise ValueError(f"a fingerprint holds {GRID ** 3} numbers, this one {fp.size}")
    return fp


def _matrix(fps: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    names = sorted(fps)
    if not names:
        return names, np.zeros((0, GRID ** 3), dtype=np.float32)
    return names, np.stack([np.asarray(fps[n], dtype=np.float32) for n in names]) / math.sqrt(GRID ** 3)


def similar_pairs(a: dict[str, np.ndarray], b: dict[str, np.ndarray] | None = None,
                  threshold: float = NEAR_DUPLICATE_THRESHOLD) -> list[tuple[str, str, float]]:
    """(case of a, case of b, similarity) for every pair at or above `threshold`, best first.

    With b None: pairs within a (each unordered pair once, a case never with itself)."""
    names_a, ma = _matrix(a)
    names_b, mb = (names_a, ma) if b is None else _matrix(b)
    pairs = []
    for start in range(0, len(names_a), _CHUNK):
        sims = ma[start:start + _CHUNK] @ mb.T
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + r
            if b is None and c <= i:
                continue
            pairs.append((names_a[i], names_b[c], min(1.0, round(float(sims[r, c]), 4))))
    return sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))
