"""Forward multiply-accumulates per 1-channel 128^3 patch of every network the grid trains.

    .venv/bin/python bench/grid_flops.py

Where segbook/data/throughput.yaml's `models:` numbers come from: the kit's own STU-Net S/B/L/H
and nnU-Net's default PlainConvUNet (6 stages, 32..320 features, as nnU-Net plans a 128^3 patch),
built on torch's meta device (no memory, no compute) and counted with a hook on every convolution:
output voxels x kernel volume x input channels per group. The STU-Net numbers match the STU-Net
paper's 0.13 / 0.51 / 3.81 / 12.60 T. Seconds, not a benchmark: it prints a table.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CLASSES = 105  # the pre-trained heads; the count barely moves the total
PATCH = (1, 1, 128, 128, 128)


def macs(model) -> int:
    import torch
    from torch import nn

    total = [0]

    def hook(module, inputs, output):
        kernel = 1
        for size in module.kernel_size:
            kernel *= size
        total[0] += output.numel() * kernel * module.in_channels // module.groups

    for module in model.modules():
        if isinstance(module, nn.Conv3d | nn.ConvTranspose3d):
            module.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.empty(PATCH, device="meta"))
    return total[0]


def networks():
    import torch
    from dynamic_network_architectures.architectures.unet import PlainConvUNet
    from torch import nn

    from segbook.models.stunet import build_stunet

    strides = [[1, 1, 1]] + [[2, 2, 2]] * 5
    with torch.device("meta"):
        yield "nnunet", PlainConvUNet(1, 6, [32, 64, 128, 256, 320, 320], nn.Conv3d, 3, [1, 2, 2, 2, 2, 2], 2, CLASSES,
                                      2, True, nn.InstanceNorm3d, {"eps": 1e-5, "affine": True}, None, None,
                                      nn.LeakyReLU, {"inplace": True}, deep_supervision=True)
        for scale in "SBLH":
            yield f"stunet-{scale.lower()}", build_stunet(scale, 1, CLASSES, strides)


def main() -> int:
    print("| network | parameters | forward GMACs per 1x128^3 patch |\n|---|---|---|")
    for name, model in networks():
        print(f"| {name} | {sum(p.numel() for p in model.parameters()):,} | {macs(model) / 1e9:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
