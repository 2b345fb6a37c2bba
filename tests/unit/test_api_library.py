"""The kit as a library (README, "As a Python library"): settings read once by the caller, then
passed to the api functions, which neither print nor read the environment again."""

from __future__ import annotations

import pytest

from segbook.api.prepare import PrepareRequest, prepare
from segbook.core import settings as settings_module
from segbook.core.errors import OutputBlocked
from segbook.core.settings import load_settings
from tests.helpers.fakes import catalog_copy, nnunet_tree


def test_prepare_through_the_api_with_settings_read_once(tmp_path, monkeypatch, capsys):
    settings = load_settings({"SEGBOOK_MANIFESTS": str(catalog_copy(tmp_path, "Task999_SegBookDemo")),
                              "SEGBOOK_OUT": str(tmp_path / "out")})
    reads = []
    monkeypatch.setattr(settings_module, "_detect_runtime", lambda env: reads.append(1) or "native")
    raw = nnunet_tree(tmp_path / "raw", 10)
    messages: list[str] = []

    first = prepare(PrepareRequest("Task999_SegBookDemo", raw=raw, lock=True), settings, messages.append)
    again = prepare(PrepareRequest("Task999_SegBookDemo", raw=raw), settings, messages.append)

    assert (first.n_train, first.n_test, first.lock_written, first.reused) == (8, 2, True, False)
    assert again.reused and again.dataset_sha256 == first.dataset_sha256
    assert first.dataset_dir == tmp_path / "out" / "nnUNet_raw" / "Dataset999_SegBookDemo"  # the settings' root
    assert (tmp_path / "manifests" / "locks" / "Task999_SegBookDemo.lock").is_file()  # the settings' catalog
    assert any("cases converted" in m for m in messages)
    assert reads == []  # the api never went back to the environment
    assert capsys.readouterr().out == ""  # nor printed


def test_the_api_raises_the_documented_errors(tmp_path):
    settings = load_settings({"SEGBOOK_MANIFESTS": str(catalog_copy(tmp_path, "Task999_SegBookDemo"))})
    raw = nnunet_tree(tmp_path / "raw", 10)
    out = tmp_path / "out"
    prepare(PrepareRequest("Task999_SegBookDemo", raw=raw, out_root=out, lock=True), settings)
    other = nnunet_tree(tmp_path / "other", 10, values=(0, 1))  # other content, lock re-pinned elsewhere
    request = PrepareRequest("Task999_SegBookDemo", raw=other, out_root=out, lock=True, force=False,
                             lock_file=tmp_path / "other.lock")
    with pytest.raises(OutputBlocked, match="already holds a different prepared dataset") as info:
        prepare(request, settings)
    assert int(info.value.exit_code) == 73 and "--force" in info.value.hint
