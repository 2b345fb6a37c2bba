"""nnU-Net's own integrity check accepts what `prepare` writes (real nnunetv2 code, ~30 s)."""

from __future__ import annotations

import pytest

from segbook.convert.prepare import PrepareOptions, prepare_dataset
from tests.helpers.fakes import load_copy, nnunet_tree

pytestmark = pytest.mark.integration  # nnU-Net's own code and worker process (~30 s)


def test_nnunet_accepts_the_prepared_dataset(tmp_path):
    verify = pytest.importorskip("nnunetv2.experiment_planning.verify_dataset_integrity")
    demo = load_copy(tmp_path, "Task999_SegBookDemo")
    prepared = prepare_dataset(demo, nnunet_tree(tmp_path / "raw", 11), tmp_path / "out", PrepareOptions(lock=True))
    verify.verify_dataset_integrity(str(prepared.dataset_dir), 1)
