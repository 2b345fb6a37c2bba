"""The trainer classes nnU-Net instantiates by name: default nnU-Net and STU-Net S/B/L/H.

Names match segbook.core.configurations.Configuration.trainer_name. STU-Net uses the target
dataset's own plan (patch, spacing, normalisation, batch size); only the network differs.
"""

from __future__ import annotations

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from segbook.models.stunet import build_stunet, deep_supervision_scales, normalize_strides
from segbook.nnunet.trainer_mixin import SegbookTrainerMixin


class SegbookNNUNetTrainer(SegbookTrainerMixin, nnUNetTrainer):
    """Default nnU-Net (the benchmark's baseline) with the kit's schedule and determinism."""


class _STUNetTrainerBase(SegbookTrainerMixin, nnUNetTrainer):
    stunet_scale = "S"

    def _stunet_strides(self) -> list[list[int]]:
        return normalize_strides(self.configuration_manager.pool_op_kernel_sizes)

    def _get_deep_supervision_scales(self):
        # one scale per STU-Net output, full resolution first: cumulative strides of the
        # first four downsamplings (the fifth feeds the bottleneck, which has no head)
        if not self.enable_deep_supervision:
            return None
        return deep_supervision_scales(self._stunet_strides())

    def initialize(self):
        super().initialize()
        # on --c nnU-Net loads its own checkpoint after this, replacing these weights
        if self.segbook.init == "pretrained":
            from segbook.models.checkpoint import load_pretrained_into  # noqa: PLC0415

            info = load_pretrained_into(self.network, self.segbook.weights)
            self.print_to_log_file(f"segbook: pre-trained weights loaded: {info}", also_print_to_console=True)


def _make_stunet_trainer(scale: str, init: str) -> type:
    def build_network_architecture(plans_manager, configuration_manager, num_input_channels,
                                   num_output_channels, enable_deep_supervision=True) -> torch.nn.Module:
        strides = normalize_strides(configuration_manager.pool_op_kernel_sizes)
        return build_stunet(scale, num_input_channels, num_output_channels, strides,
                            deep_supervision=enable_deep_supervision)

    name = f"SegbookSTUNetTrainer_{scale}_{init}"
    return type(name, (_STUNetTrainerBase,), {
        "stunet_scale": scale,
        "build_network_architecture": staticmethod(build_network_architecture),
        "__module__": __name__,
        "__doc__": f"STU-Net-{scale}, {'fine-tuned' if init == 'ft' else 'trained from scratch'}.",
    })


__all__ = ["SegbookNNUNetTrainer"]
for _scale in "SBLH":
    for _init in ("ft", "scratch"):
        _cls = _make_stunet_trainer(_scale, _init)
        globals()[_cls.__name__] = _cls
        __all__.append(_cls.__name__)
