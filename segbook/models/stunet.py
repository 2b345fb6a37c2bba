"""STU-Net (scalable residual 3D U-Net) in plain torch, state_dict-compatible with the official weights.

Six encoder stages of residual blocks with widths ``w * [1, 2, 4, 8, 16, 16]`` and ``d`` blocks per
stage, five decoder stages (nearest-neighbour upsampling + 1x1x1 conv, concatenated skip, residual
blocks) and five 1x1x1 segmentation heads. Module names follow the released checkpoints
(``conv_blocks_context``, ``upsample_layers``, ``conv_blocks_localization``, ``seg_outputs``) so the
official TotalSegmentator weights load key for key. No weight shape depends on the strides, so one
checkpoint fits every dataset plan.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional

from segbook.core.errors import InvalidInput, UsageProblem

# scale -> (base width w, residual blocks per stage d), from the STU-Net paper
SCALES: dict[str, tuple[int, int]] = {"S": (16, 1), "B": (32, 1), "L": (64, 2), "H": (96, 3)}
WIDTH_FACTORS = (1, 2, 4, 8, 16, 16)
NUM_DOWNSAMPLINGS = 5  # stages 1..5 each start with one strided block
NORM_EPS = 1e-5
LEAKY_SLOPE = 0.01


class ResidualBlock(nn.Module):
    """conv3x3x3(stride) -> IN -> LReLU -> conv3x3x3 -> IN, plus shortcut, sum, LReLU.

    The shortcut is a strided 1x1x1 conv (``conv3``) on the first block of every stage (where the
    width or resolution changes), the identity otherwise.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: Sequence[int], projection: bool):
        super().__init__()
        z, y, x = (int(s) for s in stride)  # 3 entries: build_stunet checks every stride
        stride = (z, y, x)
        # registration order = the official state_dict key order
        self.conv1 = nn.Conv3d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.norm1 = nn.InstanceNorm3d(out_channels, eps=NORM_EPS, affine=True)
        self.conv2 = nn.Conv3d(out_channels, out_channels, 3, stride=1, padding=1)
        self.norm2 = nn.InstanceNorm3d(out_channels, eps=NORM_EPS, affine=True)
        self.act = nn.LeakyReLU(LEAKY_SLOPE, inplace=True)
        if projection:
            self.conv3: nn.Conv3d | None = nn.Conv3d(in_channels, out_channels, 1, stride=stride)
        else:
            if in_channels != out_channels or any(s != 1 for s in stride):
                raise ValueError("an identity shortcut needs equal widths and stride 1")
            self.conv3 = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.conv3 is None else self.conv3(x)
        out = self.act(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return self.act(out + shortcut)


def _stage(in_channels: int, out_channels: int, stride: Sequence[int], blocks: int) -> nn.Sequential:
    first = ResidualBlock(in_channels, out_channels, stride, projection=True)
    rest = [ResidualBlock(out_channels, out_channels, (1, 1, 1), projection=False) for _ in range(blocks - 1)]
    return nn.Sequential(first, *rest)


class NearestUpsample(nn.Module):
    """Nearest-neighbour upsampling to the skip's size, then a 1x1x1 conv (``conv``)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        # Interpolating to the skip's size equals scale_factor=stride for sizes divisible by the
        # strides (nnU-Net patches are) and stays correct for odd sizes too.
        return self.conv(functional.interpolate(x, size=tuple(size), mode="nearest"))


class DeepSupervisionSwitch:
    """Plain holder for ``network.decoder.deep_supervision``, the switch nnU-Net flips.

    Deliberately not an nn.Module: the official state_dict has no ``decoder.*`` keys, and a plain
    attribute adds none.
    """

    __slots__ = ("deep_supervision",)

    def __init__(self, deep_supervision: bool):
        self.deep_supervision = bool(deep_supervision)

    def __repr__(self) -> str:
        return f"DeepSupervisionSwitch(deep_supervision={self.deep_supervision})"


class STUNet(nn.Module):
    """The network. Build it with :func:`build_stunet`."""

    def __init__(self, input_channels: int, num_classes: int, width: int, blocks_per_stage: int,
                 strides: Sequence[Sequence[int]], deep_supervision: bool = True):
        super().__init__()
        widths = [width * f for f in WIDTH_FACTORS]
        stage_strides = [(1, 1, 1)] + [tuple(s) for s in strides]
        self.strides = [list(s) for s in strides]
        self.widths = widths
        self.conv_blocks_context = nn.ModuleList()
        in_ch = input_channels
        for w, s in zip(widths, stage_strides, strict=True):
            self.conv_blocks_context.append(_stage(in_ch, w, s, blocks_per_stage))
            in_ch = w
        # decoder level i goes from encoder stage 5-i to stage 4-i (level 0 = coarsest)
        self.upsample_layers = nn.ModuleList(
            NearestUpsample(widths[5 - i], widths[4 - i]) for i in range(NUM_DOWNSAMPLINGS))
        self.conv_blocks_localization = nn.ModuleList(
            _stage(2 * widths[4 - i], widths[4 - i], (1, 1, 1), blocks_per_stage)
            for i in range(NUM_DOWNSAMPLINGS))
        self.seg_outputs = nn.ModuleList(
            nn.Conv3d(widths[4 - i], num_classes, 1) for i in range(NUM_DOWNSAMPLINGS))
        self.decoder = DeepSupervisionSwitch(deep_supervision)

    @property
    def deep_supervision(self) -> bool:
        return self.decoder.deep_supervision

    @deep_supervision.setter
    def deep_supervision(self, enabled: bool) -> None:
        self.decoder.deep_supervision = bool(enabled)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        skips = []
        for stage in self.conv_blocks_context:
            x = stage(x)
            skips.append(x)
        x = skips.pop()  # the bottleneck is not a skip
        with_ds = self.decoder.deep_supervision
        outputs = []
        for i in range(NUM_DOWNSAMPLINGS):
            skip = skips[4 - i]
            x = self.upsample_layers[i](x, skip.shape[2:])
            x = self.conv_blocks_localization[i](torch.cat((x, skip), dim=1))
            if with_ds or i == NUM_DOWNSAMPLINGS - 1:
                outputs.append(self.seg_outputs[i](x))
        if not with_ds:
            return outputs[-1]
        return outputs[::-1]  # full resolution first, as nnU-Net's deep-supervision loss expects


def _check_stride_entry(entry) -> list[int]:
    try:
        values = [int(v) for v in entry]
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"stride {entry!r} is not a list of 3 integers",
                           hint="STU-Net is a 3D network; use a 3d_fullres plan") from exc
    if len(values) != 3 or any(v < 1 or v != float(f) for v, f in zip(values, entry, strict=True)):
        raise InvalidInput(f"stride {list(entry)!r} is not a list of 3 positive integers",
                           hint="STU-Net is a 3D network; use a 3d_fullres plan")
    return values


def normalize_strides(plan_strides: Sequence[Sequence[int]]) -> list[list[int]]:
    """Turn a plan's pooling strides into STU-Net's 5 downsampling strides.

    nnU-Net v2 plans list one stride per stage, starting with ``[1, 1, 1]`` for stage 0; that
    leading all-ones entry is dropped (an nnU-Net pooling stride is never all ones). The rest is
    truncated to 5 or padded with ``[1, 1, 1]`` (padded levels keep their resolution), as the
    released STU-Net trainers do.
    """
    entries = [_check_stride_entry(s) for s in plan_strides]
    if entries and entries[0] == [1, 1, 1]:
        entries = entries[1:]
    entries = entries[:NUM_DOWNSAMPLINGS]
    return entries + [[1, 1, 1] for _ in range(NUM_DOWNSAMPLINGS - len(entries))]


def deep_supervision_scales(strides: Sequence[Sequence[int]]) -> list[list[float]]:
    """Target scales for the network's deep-supervision outputs (full resolution first).

    One scale per output (5), from the 5 downsampling strides. nnU-Net computes its scales from the
    plan's own strides, which gives a different count when the plan has other than 5 poolings; a
    trainer should use these instead.
    """
    strides = _accept_strides(strides)
    scales, factor = [[1.0, 1.0, 1.0]], [1, 1, 1]
    for s in strides[:-1]:
        factor = [f * v for f, v in zip(factor, s, strict=True)]
        scales.append([1.0 / f for f in factor])
    return scales


def _accept_strides(strides: Sequence[Sequence[int]]) -> list[list[int]]:
    entries = [_check_stride_entry(s) for s in strides]
    if len(entries) == NUM_DOWNSAMPLINGS + 1 and entries[0] == [1, 1, 1]:
        entries = entries[1:]
    if len(entries) != NUM_DOWNSAMPLINGS:
        raise InvalidInput(
            f"STU-Net needs exactly {NUM_DOWNSAMPLINGS} downsampling strides, got {len(entries)}",
            hint="pass the plan's strides through segbook.models.stunet.normalize_strides first")
    return entries


def resolve_scale(scale: str) -> tuple[str, int, int]:
    """'s' / 'S' / 'stunet-s' -> ('S', width, blocks per stage)."""
    key = str(scale).strip().upper().removeprefix("STUNET-").removeprefix("STUNET_")
    if key not in SCALES:
        raise UsageProblem(f"unknown STU-Net scale {scale!r}",
                           hint=f"choose one of {', '.join(SCALES)}")
    width, blocks = SCALES[key]
    return key, width, blocks


def build_stunet(scale: str, input_channels: int, num_classes: int, strides: list[list[int]],
                 deep_supervision: bool = True) -> nn.Module:
    """Build STU-Net of scale S, B, L or H.

    ``strides``: the 5 downsampling strides of stages 1..5 (stage 0 has stride 1). A 6-entry list
    that starts with ``[1, 1, 1]`` (nnU-Net v2's per-stage form for a 5-pooling plan) is accepted
    too; other plans go through :func:`normalize_strides` first.
    Parameters are created on torch's current default device (use ``with torch.device("meta")``
    to inspect the big scales without allocating).
    """
    _, width, blocks = resolve_scale(scale)
    if int(input_channels) < 1 or int(num_classes) < 1:
        raise InvalidInput(f"STU-Net needs at least 1 input channel and 1 class, got "
                           f"{input_channels} and {num_classes}")
    return STUNet(int(input_channels), int(num_classes), width, blocks, _accept_strides(strides),
                  deep_supervision=deep_supervision)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
