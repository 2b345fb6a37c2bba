"""segbook.nnunet.environment: what every nnU-Net child process gets, and that the kit's own stays as it was."""

from __future__ import annotations

import os
from pathlib import Path

from segbook.nnunet.environment import EXT_TRAINER_DIR, nnunet_environment


def build(tmp_path: Path, **options) -> dict[str, str]:
    defaults = {"threads": None, "data_workers": 2}
    return nnunet_environment(tmp_path / "out", tmp_path / "results", **{**defaults, **options})


def test_nnunet_folders_are_under_the_output_root(tmp_path):
    env = build(tmp_path)
    out = (tmp_path / "out").resolve()
    assert env["nnUNet_raw"] == str(out / "nnUNet_raw")
    assert env["nnUNet_preprocessed"] == str(out / "nnUNet_preprocessed")
    assert env["nnUNet_results"] == str((tmp_path / "results").resolve())
    assert env["nnUNet_extTrainer"] == str(EXT_TRAINER_DIR) and EXT_TRAINER_DIR.is_dir()
    assert env["nnUNet_n_proc_DA"] == "2" and env["nnUNet_compile"] == "false"


def test_every_cache_is_under_the_output_root(tmp_path):
    env = build(tmp_path)
    cache = (tmp_path / "out").resolve() / ".cache"
    for var in ("MPLCONFIGDIR", "TORCH_HOME", "XDG_CACHE_HOME"):
        assert Path(env[var]).is_relative_to(cache), var
    assert env["PYTHONUNBUFFERED"] == "1"


def test_relative_roots_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = nnunet_environment(Path("out"), Path("out/results"), threads=None, data_workers=0)
    assert all(Path(env[v]).is_absolute() for v in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"))


def test_threads_set_every_blas_pool_only_when_given(tmp_path, monkeypatch):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    assert {v: build(tmp_path, threads=3)[v] for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                         "OPENBLAS_NUM_THREADS")} == dict.fromkeys(
        ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"), "3")
    assert "OMP_NUM_THREADS" not in build(tmp_path, threads=None)


def test_deterministic_mode_fixes_hash_seed_and_cublas(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    loose, strict = build(tmp_path), build(tmp_path, deterministic=True)
    assert "PYTHONHASHSEED" not in loose and "CUBLAS_WORKSPACE_CONFIG" not in loose
    assert strict["PYTHONHASHSEED"] == "0" and strict["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_train_config_is_passed_by_absolute_path(tmp_path):
    assert "SEGBOOK_TRAIN_CONFIG" not in build(tmp_path)
    env = build(tmp_path, train_config=tmp_path / "train.json")
    assert env["SEGBOOK_TRAIN_CONFIG"] == str((tmp_path / "train.json").resolve())


def test_the_childs_environment_starts_from_ours_and_ours_is_untouched(tmp_path, monkeypatch):
    monkeypatch.setenv("SOME_SITE_VARIABLE", "kept")
    monkeypatch.setenv("nnUNet_raw", "/developer/raw")  # a stale setting the kit must override
    before = dict(os.environ)
    env = build(tmp_path)
    assert env["SOME_SITE_VARIABLE"] == "kept"
    assert env["nnUNet_raw"] != "/developer/raw"
    assert dict(os.environ) == before
