"""The weights registry, pinning, resolving and `segbook weights` on real STU-Net-S checkpoints."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml

from segbook.cli.errors import run_guarded
from segbook.cli.main import cli
from segbook.core.errors import InputMissing, InvalidInput, OutputBlocked
from segbook.core.hashing import sha256_file
from segbook.models.checkpoint import checkpoint_tensor_hash, load_checkpoint_state_dict
from segbook.models.official_format import save_official_v1_checkpoint
from segbook.models.stunet import build_stunet
from segbook.weights import load_registry, resolve_pretrained
from segbook.weights.pin import pin_file

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
STRIDES = [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2]]


def make_checkpoint(path: Path, seed: int = 0, epoch: int = 4000) -> Path:
    torch.manual_seed(seed)
    model = build_stunet("S", 1, 105, STRIDES)
    return save_official_v1_checkpoint(model.state_dict(), path, epoch=epoch, train_losses=[0.5, 0.25])


def write_registry(path: Path, checkpoint: Path, url: str = "http://127.0.0.1:9/small_ep4k.model") -> Path:
    size_mb = checkpoint.stat().st_size / 1e6
    entry = {"scale": "S", "file": "small_ep4k.model", "url": url, "published_size": f"{size_mb:.0f} MB",
             "size_bytes": None, "sha256": "", "tensor_sha256": "", "pinned_by": "", "pinned_at": ""}
    big = dict(entry, scale="B", file="base_ep4k.model", published_size="467 MB")
    text = "# test registry\n" + yaml.safe_dump({"schema": "segbook-weights/1", "weights": [entry, big]})
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def stunet_s_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """An STU-Net-S in the official v1 format, and a second one with other weights."""
    folder = tmp_path_factory.mktemp("stunet-s")
    return {"good": make_checkpoint(folder / "small_ep4k.model", seed=0),
            "other": make_checkpoint(folder / "other" / "small_ep4k.model", seed=1)}


@pytest.fixture()
def weights_dir(tmp_path, stunet_s_checkpoints) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(stunet_s_checkpoints["good"], folder / "small_ep4k.model")
    return folder


@pytest.fixture()
def registry_file(tmp_path, stunet_s_checkpoints) -> Path:
    return write_registry(tmp_path / "weights.yaml", stunet_s_checkpoints["good"])


def test_shipped_registry_lists_the_four_official_checkpoints():
    registry = load_registry(REPO / "manifests" / "weights.yaml")
    assert [e.scale for e in registry.entries] == ["S", "B", "L", "H"]
    assert [e.file for e in registry.entries] == ["small_ep4k.model", "base_ep4k.model", "large_ep4k.model",
                                                  "huge_ep4k.model"]
    for entry in registry.entries:
        assert entry.url == f"https://huggingface.co/ziyanhuang/STU-Net/resolve/main/{entry.file}"
    assert [e.published_bytes for e in registry.entries] == [117_000_000, 467_000_000, 3_520_000_000,
                                                            11_700_000_000]
    # rewriting an unchanged registry reproduces the file byte for byte (comments included)
    assert registry.render() == (REPO / "manifests" / "weights.yaml").read_text()


@pytest.mark.parametrize("text, exit_code", [
    ("schema: [unclosed", 65),
    ("schema: other/1\nweights: []\n", 65),
    ("schema: segbook-weights/1\nweights:\n- {scale: S, file: a, url: u, published_size: 1 MB, "
     "colour: red}\n", 65),
    ("schema: segbook-weights/1\nweights:\n- {scale: S, file: a, url: u, published_size: 1 MB, sha256: "
     + "a" * 64 + "}\n", 65),
    ("schema: segbook-weights/1\nweights:\n- {scale: Q, file: a, url: u, published_size: 1 MB}\n", 2),
    ("schema: segbook-weights/1\nweights:\n- {scale: S, file: a, url: u, published_size: big}\n", 65),
])
def test_broken_registries_are_refused(tmp_path, text, exit_code):
    path = tmp_path / "weights.yaml"
    path.write_text(text)
    assert run_guarded(cli, ["weights", "list", "--registry", str(path)]) == exit_code


def test_missing_registry_is_input_missing(tmp_path):
    with pytest.raises(InputMissing):
        load_registry(tmp_path / "nope.yaml")


def test_unpinned_file_is_refused_unless_trusted(registry_file, weights_dir):
    registry = load_registry(registry_file)
    with pytest.raises(InvalidInput, match="not pinned") as info:
        resolve_pretrained("S", weights_path=None, weights_dir=weights_dir, trust_unpinned=False,
                           registry=registry)
    assert info.value.exit_code == 65 and "--trust-unpinned" in info.value.hint
    resolved = resolve_pretrained("stunet-s", weights_path=None, weights_dir=weights_dir, trust_unpinned=True,
                                  registry=registry)
    path = weights_dir / "small_ep4k.model"
    assert (resolved.pinned, resolved.trusted_unpinned, resolved.source) == (False, True, "registry")
    assert resolved.file_sha256 == sha256_file(path)
    assert resolved.tensor_sha256 == checkpoint_tensor_hash(path)


def test_pin_then_every_use_checks_both_hashes(registry_file, weights_dir, stunet_s_checkpoints, tmp_path):
    registry = load_registry(registry_file)
    path = weights_dir / "small_ep4k.model"
    result = pin_file(registry, registry.for_file(path), path, pinned_by="tester@ci")
    assert result.changed
    saved = yaml.safe_load(registry_file.read_text())["weights"][0]
    assert saved["sha256"] == sha256_file(path) and saved["tensor_sha256"] == checkpoint_tensor_hash(path)
    assert saved["size_bytes"] == path.stat().st_size and saved["pinned_by"] == "tester@ci"
    assert saved["pinned_at"].endswith("+00:00")
    assert registry_file.read_text().startswith("# test registry\n")

    pinned = load_registry(registry_file)
    ok = resolve_pretrained("S", weights_path=path, weights_dir=None, trust_unpinned=False, registry=pinned)
    assert (ok.pinned, ok.trusted_unpinned, ok.source) == (True, False, "path")

    # same tensors, other file bytes (another epoch number in the pickle): the file hash catches it
    resaved = tmp_path / "resaved" / "small_ep4k.model"
    save_official_v1_checkpoint(load_checkpoint_state_dict(path), resaved, epoch=3999)
    assert checkpoint_tensor_hash(resaved) == ok.tensor_sha256
    with pytest.raises(InvalidInput, match="does not match the pinned"):
        resolve_pretrained("S", weights_path=resaved, weights_dir=None, trust_unpinned=False, registry=pinned)

    # other weights of the same size: refused, or used and recorded with --trust-unpinned
    other = stunet_s_checkpoints["other"]
    with pytest.raises(InvalidInput, match="does not match the pinned"):
        resolve_pretrained("S", weights_path=other, weights_dir=None, trust_unpinned=False, registry=pinned)
    trusted = resolve_pretrained("S", weights_path=other, weights_dir=None, trust_unpinned=True,
                                 registry=pinned)
    assert (trusted.pinned, trusted.trusted_unpinned) == (False, True)
    assert trusted.tensor_sha256 == checkpoint_tensor_hash(other) != ok.tensor_sha256


def test_pin_refuses_to_replace_another_pin_without_force(registry_file, weights_dir, stunet_s_checkpoints):
    registry = load_registry(registry_file)
    path = weights_dir / "small_ep4k.model"
    pin_file(registry, registry.for_scale("S"), path)
    pinned = load_registry(registry_file)
    assert not pin_file(pinned, pinned.for_scale("S"), path).changed
    other = stunet_s_checkpoints["other"]
    with pytest.raises(OutputBlocked):
        pin_file(pinned, pinned.for_scale("S"), other)
    assert load_registry(registry_file).for_scale("S").sha256 == sha256_file(path)
    assert pin_file(pinned, pinned.for_scale("S"), other, force=True).changed
    assert load_registry(registry_file).for_scale("S").sha256 == sha256_file(other)


def test_pin_refuses_truncated_and_wrong_scale_files(registry_file, weights_dir, tmp_path):
    registry = load_registry(registry_file)
    truncated = tmp_path / "small_ep4k.model"
    truncated.write_bytes((weights_dir / "small_ep4k.model").read_bytes()[: 1_000_000])
    with pytest.raises(InvalidInput, match="published as"):
        pin_file(registry, registry.for_scale("S"), truncated)
    # an STU-Net-S file named as the B checkpoint: its size gives it away before any pin is written
    assert run_guarded(cli, ["weights", "pin", str(weights_dir / "small_ep4k.model"), "--scale", "B",
                             "--registry", str(registry_file)]) == 65
    assert not load_registry(registry_file).for_scale("B").pinned


def test_missing_weights_are_input_missing(registry_file, tmp_path):
    registry = load_registry(registry_file)
    with pytest.raises(InputMissing, match="no pre-trained weights given"):
        resolve_pretrained("S", weights_path=None, weights_dir=None, trust_unpinned=True, registry=registry)
    with pytest.raises(InputMissing, match="not found in the weights folder"):
        resolve_pretrained("S", weights_path=None, weights_dir=tmp_path, trust_unpinned=True,
                           registry=registry)
    with pytest.raises(InputMissing):
        resolve_pretrained("S", weights_path=tmp_path / "x.model", weights_dir=None, trust_unpinned=True,
                           registry=registry)


def test_cli_pin_verify_and_list(registry_file, weights_dir, stunet_s_checkpoints, capsys):
    reg, folder = str(registry_file), str(weights_dir)
    assert run_guarded(cli, ["weights", "verify", "--registry", reg, "--dir", folder]) == 65
    assert run_guarded(cli, ["weights", "pin", str(weights_dir / "small_ep4k.model"), "--registry", reg]) == 0
    assert run_guarded(cli, ["weights", "verify", "--registry", reg, "--dir", folder]) == 0
    assert run_guarded(cli, ["weights", "verify", "--registry", reg, "--quick",
                             str(weights_dir / "small_ep4k.model")]) == 0
    assert run_guarded(cli, ["weights", "verify", "--registry", reg, "--scale", "S",
                             str(stunet_s_checkpoints["other"])]) == 1
    capsys.readouterr()
    assert run_guarded(cli, ["weights", "list", "--registry", reg, "--dir", folder]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    # scale, file, size (2 words), pinned (yes + short sha, or no), present, url
    assert rows["S"].split()[4] == "yes" and rows["S"].split()[6] == "yes"
    assert rows["B"].split()[4:6] == ["no", "no"]
    empty = str(weights_dir / "empty")
    assert run_guarded(cli, ["weights", "verify", "--registry", reg, "--dir", empty]) == 66
    assert run_guarded(cli, ["weights", "verify", "--registry", reg, "nope/small_ep4k.model"]) == 66
