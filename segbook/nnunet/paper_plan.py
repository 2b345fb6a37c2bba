"""SegBook's own plans, through nnU-Net's own planning functions.

SegBook trained every dataset with nnU-Net v1, whose planner chose other patch sizes and spacings
than nnU-Net 2.8.1's. The catalog records the paper's plan per dataset (patch size and target
spacing, in nnU-Net's transposed z, y, x order). ``SegBookPlanner`` is nnU-Net's ExperimentPlanner
with exactly two decisions taken from that record:

- the 3d_fullres target spacing is the paper's;
- the 3d_fullres patch size is the paper's; the network topology (pooling strides, kernel sizes,
  number of stages) is recomputed for it with nnU-Net's ``get_pool_and_conv_props``, which may
  round the patch up so that every axis divides by its total stride (recorded as an adjustment).

Everything the record does not pin is nnU-Net 2.8.1's rule applied to the paper's patch: batch size
from nnU-Net's GPU-memory estimate for that patch (at least 2, at most 5 % of the dataset's voxels),
normalisation from the channel names, resampling functions, 2d/3d_lowres configurations (unused).
The plans are written as ``SegBookPlans.json`` beside nnU-Net's own ``nnUNetPlans.json``, each with
its own preprocessed data, and ``segbook`` inside records both plans for comparison.
"""

from __future__ import annotations

import numpy as np
from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner
from nnunetv2.experiment_planning.experiment_planners.network_topology import get_pool_and_conv_props

from segbook.core.errors import InvalidInput
from segbook.nnunet.planning import PAPER_PLANS
from segbook.nnunet.steps import CONFIGURATION as FULLRES

TOO_LARGE_FACTOR = 2.0  # a patch more than this many times the largest image (per axis) is refused


def paper_topology(patch, spacing, min_edge: int = 4) -> dict:
    """nnU-Net's topology for a fixed patch at a spacing (z, y, x): strides, kernels, patch used."""
    _, strides, kernels, patch_used, divisible_by = get_pool_and_conv_props(
        [float(s) for s in spacing], [int(p) for p in patch], min_edge, 999999)
    return {"strides": [list(map(int, s)) for s in strides], "kernel_sizes": [list(map(int, k)) for k in kernels],
            "patch_size": [int(p) for p in patch_used], "divisible_by": [int(d) for d in divisible_by]}


class SegBookPlanner(ExperimentPlanner):
    """nnU-Net's planner with the paper's 3d_fullres spacing and patch (see the module doc)."""

    def __init__(self, dataset_name_or_id, *, task_id: str, patch, spacing, gpu_memory_target_in_gb: float = 8):
        super().__init__(dataset_name_or_id, gpu_memory_target_in_gb=gpu_memory_target_in_gb,
                         plans_name=PAPER_PLANS)
        self.task_id = task_id
        self.paper_patch = [int(p) for p in patch]
        self.paper_spacing = [float(s) for s in spacing]
        self.adjustments: list[str] = []

    def determine_transpose(self):
        # the axis order is nnU-Net's rule on its own target spacing (coarsest axis first), as in
        # v1: the paper's spacing is given in that order, so it cannot decide the order itself
        if self.suppress_transpose:
            return [0, 1, 2], [0, 1, 2]
        own = super().determine_fullres_target_spacing()
        coarsest = int(np.argmax(own))
        forward = [coarsest] + [axis for axis in range(3) if axis != coarsest]
        return forward, [forward.index(axis) for axis in range(3)]

    def determine_fullres_target_spacing(self) -> np.ndarray:
        # the paper's spacing is in the transposed order; nnU-Net transposes this return value
        _, transpose_backward = self.determine_transpose()
        return np.array(self.paper_spacing)[transpose_backward]

    def get_plans_for_configuration(self, spacing, median_shape, data_identifier, approximate_n_voxels_dataset,
                                    _cache):
        plan = super().get_plans_for_configuration(spacing, median_shape, data_identifier,
                                                   approximate_n_voxels_dataset, _cache)
        if not data_identifier.endswith(FULLRES):
            return plan
        return self._with_paper_patch(plan, approximate_n_voxels_dataset)

    def _with_paper_patch(self, plan: dict, n_voxels_dataset: float) -> dict:
        topology = paper_topology(self.paper_patch, plan["spacing"], self.UNet_featuremap_min_edge_length)
        if topology["patch_size"] != self.paper_patch:
            self.adjustments.append(f"patch {self.paper_patch} rounded up to {topology['patch_size']} "
                                    f"(divisible by the total strides {topology['divisible_by']})")
        self._refuse_absurd(topology["patch_size"], plan["spacing"])
        stages = len(topology["strides"])
        arch = plan["architecture"]["arch_kwargs"]
        arch.update({
            "n_stages": stages,
            "features_per_stage": tuple(min(self.UNet_max_features_3d, self.UNet_base_num_features * 2 ** i)
                                        for i in range(stages)),
            "kernel_sizes": topology["kernel_sizes"], "strides": topology["strides"],
            "n_conv_per_stage": self.UNet_blocks_per_stage_encoder[:stages],
            "n_conv_per_stage_decoder": self.UNet_blocks_per_stage_decoder[:stages - 1],
        })
        plan["patch_size"] = tuple(topology["patch_size"])
        plan["batch_size"] = self._batch_size(plan, n_voxels_dataset)
        return plan

    def _batch_size(self, plan: dict, n_voxels_dataset: float) -> int:
        """nnU-Net's rule (GPU-memory estimate, 5 % dataset cap, minimum) for the paper's patch."""
        architecture = plan["architecture"]
        estimate = self.static_estimate_VRAM_usage(
            plan["patch_size"], len(self.dataset_json["channel_names"]), len(self.dataset_json["labels"]),
            architecture["network_class_name"], architecture["arch_kwargs"], architecture["_kw_requires_import"])
        reference = self.UNet_reference_val_3d * (self.UNet_vram_target_GB / self.UNet_reference_val_corresp_GB)
        by_memory = round(reference / estimate * self.UNet_reference_val_corresp_bs_3d)
        by_coverage = round(n_voxels_dataset * self.max_dataset_covered / np.prod(plan["patch_size"], dtype=np.float64))
        return int(max(min(by_memory, by_coverage), self.UNet_min_batch_size))

    def _refuse_absurd(self, patch, spacing) -> None:
        largest = np.max([np.array(shape) * np.array(s) / np.array(self.determine_fullres_target_spacing())
                          for shape, s in zip(self.dataset_fingerprint["shapes_after_crop"],
                                              self.dataset_fingerprint["spacings"], strict=True)], axis=0)
        transpose_forward, _ = self.determine_transpose()
        largest = largest[transpose_forward]
        too_big = [axis for axis in range(3) if patch[axis] > TOO_LARGE_FACTOR * largest[axis]]
        if too_big:
            raise InvalidInput(
                f"{self.task_id}: the reference plan's patch {list(patch)} is far larger than its images "
                f"(largest {[int(round(v)) for v in largest]} voxels at spacing {list(spacing)}; axes {too_big})",
                hint="check that the data are this dataset's, or train with --plan nnunet")



def summary(plans: dict) -> dict:
    """The few numbers of a plans file's 3d_fullres configuration that people compare."""
    config = plans["configurations"][FULLRES]
    return {"patch_size": [int(p) for p in config["patch_size"]],
            "spacing": [round(float(s), 6) for s in config["spacing"]],
            "batch_size": int(config["batch_size"]),
            "strides": [list(map(int, s)) for s in config["architecture"]["arch_kwargs"]["strides"]]}
