"""The fake raw downloads of tests/helpers/fakes.py are what the tests think they are."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from tests.helpers.fakes import four_d, nnunet_tree, volume


def test_four_d_stacks_channels_on_the_fourth_axis():
    image = four_d([volume(1), volume(2)])
    assert image.GetDimension() == 4 and image.GetSize() == (8, 8, 8, 2)


def test_builders_are_deterministic(tmp_path):
    a = nnunet_tree(tmp_path / "a", 2)
    b = nnunet_tree(tmp_path / "b", 2)
    for rel in ("imagesTr/case_001_0000.nii.gz", "labelsTr/case_001.nii.gz"):
        assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(a / rel))),
                              sitk.GetArrayFromImage(sitk.ReadImage(str(b / rel))))
