"""STU-Net in plain torch: official state_dict layout, parameter counts, forward semantics."""

from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources
from pathlib import Path

import pytest
import torch

from segbook.core.errors import InvalidInput, UsageProblem
from segbook.models.stunet import (
    build_stunet,
    count_parameters,
    deep_supervision_scales,
    normalize_strides,
)

pytestmark = pytest.mark.unit

REFERENCE_SPEC = Path(__file__).resolve().parents[3] / "shared/reference/stunet/state_dict_spec.json"
# from the STU-Net paper / issue 2 (1 input channel, 105 classes)
PAPER_COUNTS = {"S": 14_596_941, "B": 58_262_669, "L": 440_302_605, "H": 1_457_326_221}
ISO = [[2, 2, 2]] * 5


def _spec() -> dict:
    return json.loads(resources.files("segbook").joinpath("data/state_dict_spec.json").read_text())


def _meta_model(scale: str, strides=ISO, channels: int = 1, classes: int = 105):
    with torch.device("meta"):
        return build_stunet(scale, channels, classes, strides)


# sha256 of ../shared/reference/stunet/state_dict_spec.json, so the check runs where that folder is absent
REFERENCE_SPEC_SHA256 = "38c48881adce66eb56b7db6e021655553c0c83087249e790add8f040ad979f50"


def test_packaged_spec_is_the_reference_copy():
    packaged = resources.files("segbook").joinpath("data/state_dict_spec.json").read_bytes()
    assert hashlib.sha256(packaged).hexdigest() == REFERENCE_SPEC_SHA256
    if REFERENCE_SPEC.exists():  # beside the shared reference: the recorded hash is still its hash
        assert hashlib.sha256(REFERENCE_SPEC.read_bytes()).hexdigest() == REFERENCE_SPEC_SHA256


@pytest.mark.parametrize("scale", ["S", "B", "L", "H"])
def test_state_dict_matches_official_checkpoints(scale):
    spec = _spec()["scales"][scale]
    model = _meta_model(scale)
    assert all(p.is_meta for p in model.parameters())  # nothing was allocated
    shapes = {key: list(value.shape) for key, value in model.state_dict().items()}
    assert list(shapes) == list(spec["state_dict"])  # same keys, same order
    assert shapes == spec["state_dict"]
    assert count_parameters(model) == spec["num_parameters"] == PAPER_COUNTS[scale]


@pytest.mark.parametrize("strides", [ISO, [[1, 2, 2], [1, 2, 2], [2, 2, 2], [2, 2, 2], [1, 1, 1]]])
def test_weight_shapes_do_not_depend_on_strides(strides):
    reference = {k: v.shape for k, v in _meta_model("B").state_dict().items()}
    assert {k: v.shape for k, v in _meta_model("B", strides).state_dict().items()} == reference


def test_channels_and_classes_change_only_first_layer_and_heads():
    base = _meta_model("S").state_dict()
    other = _meta_model("S", channels=3, classes=4).state_dict()
    changed = {key for key in base if base[key].shape != other[key].shape}
    assert changed == {"conv_blocks_context.0.0.conv1.weight", "conv_blocks_context.0.0.conv3.weight"} | {
        f"seg_outputs.{i}.{p}" for i in range(5) for p in ("weight", "bias")}
    assert other["conv_blocks_context.0.0.conv1.weight"].shape == (16, 3, 3, 3, 3)
    assert other["seg_outputs.4.weight"].shape == (4, 16, 1, 1, 1)


def test_scale_names_are_case_insensitive_and_unknown_is_refused():
    assert count_parameters(_meta_model("s")) == PAPER_COUNTS["S"]
    assert count_parameters(_meta_model("stunet-b")) == PAPER_COUNTS["B"]
    with pytest.raises(UsageProblem, match="unknown STU-Net scale 'XL'"):
        _meta_model("XL")


def test_stride_forms():
    with_stage0 = [[1, 1, 1]] + ISO
    assert count_parameters(_meta_model("S", with_stage0)) == PAPER_COUNTS["S"]
    with pytest.raises(InvalidInput, match="exactly 5 downsampling strides, got 4"):
        _meta_model("S", ISO[:4])
    with pytest.raises(InvalidInput, match="3 positive integers"):
        _meta_model("S", [[2, 2]] * 5)
    with pytest.raises(InvalidInput):
        _meta_model("S", [[2, 0, 2]] * 5)


def test_normalize_strides_drops_stage0_truncates_and_pads():
    # a 4-pooling nnU-Net v2 plan: stage-0 entry dropped, padded with [1, 1, 1]
    assert normalize_strides([[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2]]) == [
        [1, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [1, 1, 1]]
    # a 6-pooling plan: truncated to the first 5
    assert normalize_strides([[1, 1, 1]] + [[2, 2, 2]] * 5 + [[1, 2, 2]]) == ISO
    assert normalize_strides([[1, 1, 1]] + ISO) == ISO
    assert normalize_strides([[2, 2, 1]] * 3) == [[2, 2, 1]] * 3 + [[1, 1, 1]] * 2
    assert normalize_strides([]) == [[1, 1, 1]] * 5


def test_deep_supervision_scales_follow_the_strides():
    strides = [[1, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2]]
    assert deep_supervision_scales(strides) == [
        [1.0, 1.0, 1.0], [1.0, 0.5, 0.5], [0.5, 0.25, 0.25], [0.25, 0.125, 0.125], [0.125, 0.0625, 0.0625]]


def _small(strides, channels=1, classes=3, deep_supervision=True):
    torch.manual_seed(0)
    return build_stunet("S", channels, classes, strides, deep_supervision=deep_supervision)


@pytest.mark.parametrize(("strides", "size"), [
    ([[2, 2, 2]] * 4 + [[1, 1, 1]], (32, 32, 32)),  # padded plan
    ([[1, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2]], (16, 64, 48)),  # anisotropic
])
def test_forward_shapes_with_and_without_deep_supervision(strides, size):
    model = _small(strides, channels=2)
    x = torch.randn(2, 2, *size)
    outputs = model(x)
    assert isinstance(outputs, list) and len(outputs) == 5
    expected = [tuple(round(n * f) for n, f in zip(size, scale, strict=True))
                for scale in deep_supervision_scales(strides)]
    assert [tuple(o.shape[2:]) for o in outputs] == expected  # full resolution first
    assert all(o.shape[:2] == (2, 3) for o in outputs)

    model.decoder.deep_supervision = False  # what nnU-Net's set_deep_supervision_enabled does
    single = model(x)
    assert isinstance(single, torch.Tensor) and single.shape == (2, 3, *size)
    assert torch.equal(single, outputs[0])  # same full-resolution head either way


def test_constructor_flag_and_switch_do_not_touch_state_dict():
    model = _small(ISO, deep_supervision=False)
    assert model.decoder.deep_supervision is False
    keys = list(model.state_dict())
    assert not any(key.startswith("decoder") for key in keys)
    model.decoder.deep_supervision = True
    assert model.deep_supervision is True and list(model.state_dict()) == keys
    clone = copy.deepcopy(model)  # nnU-Net and torch.compile may copy the module
    assert clone.decoder.deep_supervision is True and clone.decoder is not model.decoder


def test_odd_sizes_still_come_back_at_input_size():
    model = _small([[2, 2, 2]] * 4 + [[1, 1, 1]])
    model.decoder.deep_supervision = False
    assert model(torch.randn(1, 1, 30, 34, 26)).shape == (1, 3, 30, 34, 26)


def test_backward_reaches_every_parameter_with_deep_supervision():
    model = _small([[2, 2, 2]] * 4 + [[1, 1, 1]])
    loss = sum(o.square().mean() for o in model(torch.randn(1, 1, 32, 32, 32)))
    loss.backward()
    assert [name for name, p in model.named_parameters() if p.grad is None] == []
