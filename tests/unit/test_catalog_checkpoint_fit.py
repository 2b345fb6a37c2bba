"""One pre-trained checkpoint serves all 87 datasets: for every reference plan and every scale, the
STU-Net built for that plan takes the official state_dict and runs a forward pass on a patch.

Meta tensors only (shapes, no memory, no arithmetic): STU-Net-H on 87 plans in a few seconds.
The topology is the one the paper's plan gets in training (paper_plan.paper_topology, nnU-Net's
own planning function), normalised to STU-Net's 5 downsamplings as the trainer does.
"""

from __future__ import annotations

import json
from importlib import resources

import pytest
import torch

from segbook.catalog import load_catalog
from segbook.models.stunet import build_stunet, normalize_strides
from segbook.nnunet.paper_plan import paper_topology

pytestmark = pytest.mark.unit

SCALES = ("S", "B", "L", "H")


def _spec() -> dict:
    return json.loads(resources.files("segbook").joinpath("data/state_dict_spec.json").read_text())


def _reference_plans() -> list:
    plans = [(m.task_id, m.reference_plan) for m in load_catalog() if m.reference_plan]
    assert len(plans) == 87  # every SegBook dataset carries the paper's plan
    return plans


def _official_state_dict(spec: dict, scale: str) -> dict:
    with torch.device("meta"):
        return {key: torch.empty(shape) for key, shape in spec["scales"][scale]["state_dict"].items()}


@pytest.mark.parametrize("scale", SCALES)
def test_every_reference_plan_accepts_the_official_checkpoint(scale):
    spec = _spec()
    official = _official_state_dict(spec, scale)
    models: dict = {}  # one model per distinct topology (the weights' shapes never depend on it)
    for task_id, plan in _reference_plans():
        topology = paper_topology(plan["patch"], plan["spacing"])
        strides = normalize_strides(topology["strides"])
        model = models.get(str(strides))
        if model is None:
            with torch.device("meta"):
                model = build_stunet(scale, spec["input_channels"], spec["num_classes"], strides,
                                     deep_supervision=False)
            # strict: same keys, same shapes (load_state_dict raises on any difference)
            model.load_state_dict(official, strict=True, assign=True)
            models[str(strides)] = model
        patch = topology["patch_size"]
        with torch.no_grad():
            out = model(torch.empty(1, spec["input_channels"], *patch, device="meta"))
        assert list(out.shape) == [1, spec["num_classes"], *patch], task_id


def test_a_changed_checkpoint_is_refused():
    """The check above can fail: one tensor of another shape is refused by the strict load."""
    spec = _spec()
    official = _official_state_dict(spec, "S")
    key = next(iter(official))
    with torch.device("meta"):
        official[key] = torch.empty(*official[key].shape[:-1], official[key].shape[-1] + 1)
        model = build_stunet("S", 1, spec["num_classes"], [[2, 2, 2]] * 5)
    with pytest.raises(RuntimeError, match="size mismatch"):
        model.load_state_dict(official, strict=True, assign=True)


def test_paper_patch_is_divisible_by_its_strides():
    for task_id, plan in _reference_plans():
        topology = paper_topology(plan["patch"], plan["spacing"])
        for axis, size in enumerate(topology["patch_size"]):
            assert size % topology["divisible_by"][axis] == 0, task_id
