"""Checkpoint loading (v1 .model, v2 .pth), fitting to a network, refusal of unsafe pickles, hashing."""

from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from segbook.core.errors import InputMissing, InvalidInput, OutputBlocked
from segbook.models.checkpoint import (
    _torch_load,
    adapt_pretrained,
    checkpoint_tensor_hash,
    load_checkpoint_state_dict,
    load_pretrained_into,
    read_checkpoint,
    save_official_v1_checkpoint,
    save_v2_checkpoint,
    tensor_hash,
)
from segbook.models.stunet import build_stunet

pytestmark = pytest.mark.unit

STRIDES = [[1, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [1, 1, 1]]
FIRST = ("conv_blocks_context.0.0.conv1.weight", "conv_blocks_context.0.0.conv3.weight")


@pytest.fixture(scope="module")
def pretrained():
    """A real STU-Net-S as pre-trained on 105 classes, with one non-trivial training step."""
    torch.manual_seed(1)
    model = build_stunet("S", 1, 105, STRIDES)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    sum(o.mean() for o in model(torch.randn(1, 1, 16, 32, 32))).backward()
    optimizer.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def files(pretrained, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    v1 = save_official_v1_checkpoint(pretrained, folder / "small_ep4k.model", epoch=4000,
                                     train_losses=[-0.5, -0.75], val_losses=[-0.6], val_metrics=[0.8])
    v2 = save_v2_checkpoint(pretrained, folder / "checkpoint_final.pth", current_epoch=2,
                            train_losses=[-0.5, -0.75], val_losses=[-0.6, -0.7], mean_fg_dice=[0.7, 0.8])
    return {"v1": v1, "v2": v2, "dir": folder}


def _pickle_of(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith("/data.pkl")))


def _rewrite_pickle(src: Path, dst: Path, edit) -> Path:
    """Copy a torch zip checkpoint, passing its data.pkl through `edit`."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info, edit(data) if info.filename.endswith("/data.pkl") else data)
    return dst


def test_both_official_formats_load_with_identical_tensors(files, pretrained):
    v1, v2 = read_checkpoint(files["v1"]), read_checkpoint(files["v2"])
    assert (v1.format, v1.epoch, v2.format, v2.epoch) == ("nnunet-v1", 4000, "nnunet-v2", 2)
    assert list(v1.state_dict) == list(pretrained)
    assert all(torch.equal(v1.state_dict[k], pretrained[k]) for k in pretrained)
    assert tensor_hash(v1.state_dict) == tensor_hash(v2.state_dict) == tensor_hash(pretrained)
    assert checkpoint_tensor_hash(files["v1"]) == checkpoint_tensor_hash(files["v2"])
    # the v1 file really holds numpy float64 scalars in plot_stuff, like the released files
    assert b"numpy" in _pickle_of(files["v1"]) and b"scalar" in _pickle_of(files["v1"])


def test_v1_file_contents_match_nnunet_v1_layout(files):
    raw = _torch_load(files["v1"])  # the kit's safe load, whole object
    assert set(raw) == {"epoch", "state_dict", "optimizer_state_dict", "lr_scheduler_state_dict",
                        "plot_stuff", "best_stuff", "amp_grad_scaler"}
    assert all(type(v) is np.float64 for v in raw["plot_stuff"][0])


def test_numpy1_scalar_names_of_released_files_are_allowed(files, tmp_path):
    # files written under numpy 1.x name the scalar constructor numpy.core.multiarray.scalar
    new_name, old_name = b"numpy._core.multiarray\nscalar", b"numpy.core.multiarray\nscalar"
    old = _rewrite_pickle(files["v1"], tmp_path / "np1.model", lambda d: d.replace(new_name, old_name))
    assert b"numpy.core.multiarray\nscalar" in _pickle_of(old)
    assert checkpoint_tensor_hash(old) == checkpoint_tensor_hash(files["v1"])


def test_bare_and_wrapped_state_dicts(pretrained, tmp_path):
    bare = tmp_path / "bare.pt"
    torch.save(pretrained, bare)
    assert read_checkpoint(bare).format == "state-dict"
    wrapped = tmp_path / "ddp.pth"
    torch.save({"network_weights": {f"module.{k}": v for k, v in pretrained.items()}}, wrapped)
    assert list(load_checkpoint_state_dict(wrapped)) == list(pretrained)


def test_heads_dropped_and_weights_loaded(files, pretrained):
    torch.manual_seed(2)
    model = build_stunet("S", 1, 3, [[2, 2, 2]] * 5)
    heads_before = model.seg_outputs[4].weight.detach().clone()
    info = load_pretrained_into(model, files["v1"])
    assert info.format == "nnunet-v1" and info.channels_repeated == 1 and info.epoch == 4000
    assert info.heads_dropped == sorted(k for k in pretrained if k.startswith("seg_outputs."))
    assert info.tensors_loaded == len(pretrained) - 10
    assert info.tensor_sha256 == tensor_hash(pretrained)
    state = model.state_dict()
    assert all(torch.equal(state[k], pretrained[k]) for k in pretrained if not k.startswith("seg_outputs."))
    assert torch.equal(model.seg_outputs[4].weight, heads_before)  # the new task's head stays fresh


@pytest.mark.parametrize("channels", [2, 4])
def test_first_layer_repeated_for_more_input_channels(files, pretrained, channels):
    model = build_stunet("S", channels, 2, STRIDES)
    adapted = adapt_pretrained(pretrained, model)
    assert not any(k.startswith("seg_outputs.") for k in adapted)
    for key in FIRST:
        assert adapted[key].shape[1] == channels
        assert all(torch.equal(adapted[key][:, c:c + 1], pretrained[key]) for c in range(channels))
    info = load_pretrained_into(model, files["v2"])
    assert info.channels_repeated == channels
    assert torch.equal(model.state_dict()[FIRST[0]], adapted[FIRST[0]])


def test_other_scale_is_refused_listing_keys(files):
    with pytest.raises(InvalidInput) as caught:
        load_pretrained_into(build_stunet("B", 1, 3, STRIDES), files["v1"])
    message = caught.value.message
    assert "120 mis-shaped" in message and "conv_blocks_context.0.0.conv1.weight" in message
    assert "(16, 1, 3, 3, 3) vs network (32, 1, 3, 3, 3)" in message
    assert "STU-Net-S" in caught.value.hint


def test_missing_extra_and_misshaped_keys_are_all_listed(pretrained):
    model = build_stunet("S", 1, 3, STRIDES)
    broken = dict(pretrained)
    for key in ("conv_blocks_context.5.0.conv1.bias", "upsample_layers.0.conv.bias",
                "conv_blocks_localization.1.0.norm2.weight", "conv_blocks_context.3.0.conv2.bias"):
        del broken[key]
    broken["conv_blocks_context.0.1.conv1.weight"] = torch.zeros(16, 16, 3, 3, 3)  # an L-style block
    broken["upsample_layers.1.conv.weight"] = torch.zeros(64, 256, 1, 1, 1)
    with pytest.raises(InvalidInput) as caught:
        adapt_pretrained(broken, model)
    message = caught.value.message
    assert "4 missing (" in message and ", ... 1 more)" in message
    assert "1 unexpected (conv_blocks_context.0.1.conv1.weight)" in message
    assert ("1 mis-shaped (upsample_layers.1.conv.weight: checkpoint (64, 256, 1, 1, 1) "
            "vs network (128, 256, 1, 1, 1))") in message


def test_wrapped_networks_are_looked_through(files, pretrained):
    # nnU-Net compiles its network on CUDA and wraps it for DDP; the keys then carry a prefix
    inner = build_stunet("S", 1, 3, STRIDES)
    wrapped = torch.nn.DataParallel(inner)
    assert next(iter(wrapped.state_dict())).startswith("module.")
    info = load_pretrained_into(wrapped, files["v1"])
    assert info.tensors_loaded == len(pretrained) - 10
    assert torch.equal(inner.state_dict()[FIRST[0]], pretrained[FIRST[0]])


def test_channel_count_mismatch_other_than_one_is_refused(pretrained):
    two = build_stunet("S", 2, 3, STRIDES)
    adapted = adapt_pretrained(pretrained, two)
    with pytest.raises(InvalidInput, match="2 mis-shaped"):
        adapt_pretrained(adapted, build_stunet("S", 3, 3, STRIDES))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputMissing, match="does not exist"):
        read_checkpoint(tmp_path / "nope.model")
    with pytest.raises(InvalidInput, match="not a file"):
        read_checkpoint(tmp_path)


@pytest.mark.parametrize("keep", [0.5, 0.999, 0.01])
def test_truncated_files_are_refused(files, tmp_path, keep):
    data = files["v1"].read_bytes()
    cut = tmp_path / "cut.model"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InvalidInput, match="corrupt or truncated"):
        read_checkpoint(cut)


def test_garbage_and_non_checkpoints_are_refused(tmp_path):
    junk = tmp_path / "junk.model"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(InvalidInput):
        read_checkpoint(junk)
    listing = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], listing)
    with pytest.raises(InvalidInput, match="holds no weights"):
        read_checkpoint(listing)
    mixed = tmp_path / "mixed.pth"
    torch.save({"state_dict": {"a": torch.zeros(1), "b": 3}}, mixed)
    with pytest.raises(InvalidInput, match="1 weight entries are not tensors"):
        read_checkpoint(mixed)


class _Payload:
    """Unpickling this runs code: it writes the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


class _ShellPayload(_Payload):
    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.mark.parametrize("payload", [_Payload, _ShellPayload])
def test_malicious_torch_checkpoint_is_refused_without_running(pretrained, tmp_path, payload):
    evil = tmp_path / "evil.model"
    torch.save({"epoch": 1, "state_dict": pretrained, "plot_stuff": payload(tmp_path / "pwned")}, evil)
    # control: the payload is real, an unsafe load would run it
    control = tmp_path / "control"
    torch.save({"x": payload(control)}, tmp_path / "control.model")
    torch.load(tmp_path / "control.model", weights_only=False)  # deliberately unsafe, own file
    assert control.exists()

    with pytest.raises(InvalidInput, match="refusing to unpickle .* not a plain checkpoint"):
        read_checkpoint(evil)
    assert not (tmp_path / "pwned").exists()


def test_hand_made_pickle_inside_a_valid_zip_and_raw_pickle_are_refused(files, tmp_path):
    marker = tmp_path / "pwned"
    evil_pickle = pickle.dumps(_ShellPayload(marker), protocol=2)
    swapped = _rewrite_pickle(files["v1"], tmp_path / "swapped.model", lambda _: evil_pickle)
    raw = tmp_path / "raw.model"
    raw.write_bytes(evil_pickle)
    for path in (swapped, raw):
        with pytest.raises(InvalidInput, match="refusing to unpickle"):
            read_checkpoint(path)
    assert not marker.exists()


def test_numpy_arrays_are_not_on_the_allow_list(pretrained, tmp_path):
    path = tmp_path / "array.model"
    torch.save({"state_dict": pretrained, "plot_stuff": np.zeros(3)}, path)
    with pytest.raises(InvalidInput, match="refusing to unpickle"):
        read_checkpoint(path)


def test_tensor_hash_definition():
    tensors = OrderedDict(b=torch.tensor([1.0, -2.0], dtype=torch.bfloat16),
                          a=torch.arange(3, dtype=torch.int16))
    digest = hashlib.sha256(b"segbook-tensor-hash/1\n")
    digest.update(b"a\tint16\t[3]\t6\n" + np.arange(3, dtype="<i2").tobytes())
    digest.update(b"b\tbfloat16\t[2]\t4\n" + bytes([0x80, 0x3F, 0x00, 0xC0]))  # 1.0, -2.0 in bf16
    assert tensor_hash(tensors) == digest.hexdigest()


def test_tensor_hash_ignores_layout_but_not_values(pretrained, files, tmp_path):
    reference = tensor_hash(pretrained)
    # one shared storage with views, reversed key order, legacy (non-zip) torch format
    flat = torch.cat([v.reshape(-1) for v in pretrained.values()])
    views, offset = {}, 0
    for key, value in pretrained.items():
        views[key] = flat[offset:offset + value.numel()].view(value.shape)
        offset += value.numel()
    legacy = tmp_path / "legacy.model"
    shuffled = dict(reversed(list(views.items())))
    torch.save({"state_dict": shuffled}, legacy, _use_new_zipfile_serialization=False)
    assert checkpoint_tensor_hash(legacy) == reference

    nudged = dict(pretrained)
    key = "conv_blocks_localization.2.0.conv2.weight"
    nudged[key] = pretrained[key].clone()
    nudged[key].view(-1)[7] += 1e-6
    assert tensor_hash(nudged) != reference
    assert tensor_hash({**pretrained, key: pretrained[key].double()}) != reference  # dtype counts
    assert tensor_hash({**pretrained, key: pretrained[key].reshape(1, -1)}) != reference  # shape counts


def test_non_contiguous_tensor_hashes_like_its_contiguous_copy():
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert tensor_hash({"w": base.t()}) == tensor_hash({"w": base.t().contiguous()})
    assert tensor_hash({"w": base.t()}) != tensor_hash({"w": base})


def test_saving_is_atomic_and_never_overwrites(pretrained, tmp_path):
    target = save_v2_checkpoint(pretrained, tmp_path / "sub" / "w.pth", current_epoch=3)
    before = target.read_bytes()
    with pytest.raises(OutputBlocked):
        save_official_v1_checkpoint(pretrained, target)
    assert target.read_bytes() == before
    save_official_v1_checkpoint(pretrained, target, epoch=5, overwrite=True)
    assert read_checkpoint(target).epoch == 5
    assert sorted(p.name for p in target.parent.iterdir()) == ["w.pth"]  # no temp file left


def test_v2_file_has_nnunet_keys(files):
    raw = _torch_load(files["v2"])
    assert {"network_weights", "optimizer_state", "grad_scaler_state", "logging", "_best_ema",
            "current_epoch", "init_args", "trainer_name", "inference_allowed_mirroring_axes"} == set(raw)
    assert type(raw["logging"]["train_losses"][0]) is np.float32
    assert raw["init_args"]["device"] == torch.device("cpu")
