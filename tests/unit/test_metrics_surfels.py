"""The surfel area table and neighbour codes against DeepMind's and MONAI's, and closed forms."""

import math

import numpy as np
import pytest
import surface_distance.lookup_tables as deepmind_tables
from scipy import ndimage

from segbook.evaluate.surfels import area_table, code_area_vectors, neighbour_codes

pytestmark = [
    pytest.mark.unit,
    # the oracles use deprecated scipy/MONAI spellings; not our code
    pytest.mark.filterwarnings("ignore:Please import `:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*always_return_as_numpy:FutureWarning"),
]

SPACINGS = [(1.0, 1.0, 1.0), (3.0, 0.7, 0.7), (0.5, 1.3, 2.9), (5.0, 0.8, 1.6), (0.25, 4.0, 0.6)]


@pytest.mark.parametrize("spacing", SPACINGS)
def test_area_table_equals_deepmind_surface_distance(spacing):
    expected = deepmind_tables.create_table_neighbour_code_to_surface_area(spacing)
    np.testing.assert_allclose(area_table(spacing), expected, rtol=0, atol=1e-12)


def test_area_table_equals_monai_for_random_spacings():
    from monai.metrics.utils import create_table_neighbour_code_to_surface_area  # noqa: PLC0415 - the oracle only in its tests

    rng = np.random.default_rng(7)
    for _ in range(10):
        spacing = tuple(rng.uniform(0.1, 6.0, 3))
        expected = np.asarray(create_table_neighbour_code_to_surface_area(spacing)[0], dtype=float)
        np.testing.assert_allclose(area_table(spacing), expected, rtol=1e-6, atol=1e-9)


def test_complementary_codes_have_the_same_surface_and_extremes_none():
    table = area_table((0.9, 1.7, 2.3))
    assert table[0] == 0 and table[255] == 0
    assert all(math.isclose(table[c], table[255 - c], rel_tol=1e-12) for c in range(256))
    assert all(table[c] > 0 for c in range(1, 255))


def test_single_voxel_surface_is_eight_corner_triangles():
    # Isotropic unit voxel: 8 cells with one corner inside, each an equilateral triangle
    # through three edge midpoints (side sqrt(2)/2): total area 8 * sqrt(3)/8 = sqrt(3).
    codes = neighbour_codes(np.ones((1, 1, 1), dtype=bool))
    assert codes.shape == (2, 2, 2)
    assert math.isclose(area_table((1, 1, 1))[codes].sum(), math.sqrt(3), rel_tol=1e-12)


def test_flat_face_area_scales_with_in_plane_spacing():
    # A slab filling the whole array: its top and bottom faces (normal along axis 0) have
    # area ny*sy * nz*sz each, plus the four side faces.
    mask = np.ones((4, 6, 5), dtype=bool)
    spacing = (3.0, 0.5, 0.8)
    codes = neighbour_codes(mask)
    area = area_table(spacing)[codes].sum()
    nx, ny, nz = (n * s for n, s in zip(mask.shape, spacing, strict=True))
    box_area = 2 * (nx * ny + nx * nz + ny * nz)
    # Marching cubes cuts the 12 box edges and 8 corners off, so the surfel area is a bit smaller.
    assert 0.8 * box_area < area < box_area


def test_neighbour_codes_match_deepmind_encoding():
    rng = np.random.default_rng(3)
    mask = rng.random((9, 12, 7)) > 0.5
    padded = np.zeros((11, 14, 9), dtype=np.uint8)
    padded[1:-1, 1:-1, 1:-1] = mask
    expected = ndimage.correlate(padded, deepmind_tables.ENCODE_NEIGHBOURHOOD_3D_KERNEL, mode="constant")
    np.testing.assert_array_equal(neighbour_codes(mask), expected[1:, 1:, 1:])


def test_every_code_triangulates_into_closed_polygons():
    vectors = code_area_vectors()
    assert len(vectors) == 256
    counts = [len(v) for v in vectors]
    assert counts[0] == counts[255] == 0
    assert max(counts) == 4 and min(counts[1:255]) == 1
