"""Deterministic synthetic volumes for the demo.

Two families, deliberately different:
- "CT-like" full-body phantoms with five organ-like classes (for pre-training STU-Net-S);
- "MR-like" downstream phantoms with another contrast: one organ and a lesion inside it.
Only integer/uniform draws and standard normals from numpy's PCG64 are used; their streams
are stable across numpy releases, so the same seed gives the same voxels everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UPSTREAM_LABELS = {0: "background", 1: "liver", 2: "spleen", 3: "kidney_left", 4: "kidney_right", 5: "spine"}
DOWNSTREAM_LABELS = {0: "background", 1: "organ", 2: "lesion"}
UPSTREAM_SHAPE = (32, 48, 48)  # z, y, x
UPSTREAM_SPACING = (1.5, 1.5, 1.5)  # x, y, z in mm (SimpleITK order)
DOWNSTREAM_SHAPE = (24, 40, 40)
DOWNSTREAM_SPACING = (1.5, 1.5, 2.0)


@dataclass(frozen=True)
class Phantom:
    image: np.ndarray  # int16, z,y,x
    label: np.ndarray  # uint8, z,y,x
    spacing: tuple[float, float, float]  # x,y,z


def _grid(shape):
    zz, yy, xx = np.meshgrid(*(np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in shape), indexing="ij")
    return zz, yy, xx


def _ellipsoid(grid, center, radii):
    zz, yy, xx = grid
    return ((zz - center[0]) / radii[0]) ** 2 + ((yy - center[1]) / radii[1]) ** 2 + (
        (xx - center[2]) / radii[2]
    ) ** 2 <= 1.0


def _jitter(rng, scale):
    return (rng.random(3).astype(np.float32) - 0.5) * 2 * scale


def ct_like(rng: np.random.Generator) -> Phantom:
    """Body, five organs with CT-like Hounsfield values, noise."""
    grid = _grid(UPSTREAM_SHAPE)
    hu = np.full(UPSTREAM_SHAPE, -1000.0, dtype=np.float32)
    label = np.zeros(UPSTREAM_SHAPE, dtype=np.uint8)
    body = _ellipsoid(grid, (0, 0, 0), (1.1, 0.85, 0.9) + _jitter(rng, 0.05))
    hu[body] = 20.0
    organs = [  # label, center, radii, HU
        (1, (0.0, 0.1, -0.35), (0.5, 0.35, 0.3), 60.0),
        (2, (0.0, 0.1, 0.45), (0.3, 0.2, 0.15), 50.0),
        (3, (0.2, 0.4, 0.3), (0.3, 0.15, 0.12), 150.0),
        (4, (0.2, 0.4, -0.3), (0.3, 0.15, 0.12), 150.0),
        (5, (0.0, 0.6, 0.0), (1.2, 0.12, 0.12), 600.0),
    ]
    for value, center, radii, level in organs:
        mask = _ellipsoid(grid, np.add(center, _jitter(rng, 0.06)), np.multiply(radii, 1 + _jitter(rng, 0.15)))
        mask &= body
        hu[mask] = level + float(rng.integers(-15, 16))
        label[mask] = value
    hu += rng.standard_normal(UPSTREAM_SHAPE).astype(np.float32) * 15.0
    return Phantom(np.clip(hu, -1024, 3000).astype(np.int16), label, UPSTREAM_SPACING)


def mr_like(rng: np.random.Generator) -> Phantom:
    """Another contrast: bright organ under a smooth bias field, a dark lesion inside it."""
    grid = _grid(DOWNSTREAM_SHAPE)
    signal = np.zeros(DOWNSTREAM_SHAPE, dtype=np.float32)
    label = np.zeros(DOWNSTREAM_SHAPE, dtype=np.uint8)
    body = _ellipsoid(grid, (0, 0, 0), (1.1, 0.8, 0.85) + _jitter(rng, 0.05))
    signal[body] = 180.0
    organ_center = np.array((0.0, 0.0, -0.1)) + _jitter(rng, 0.15)
    organ_radii = np.array((0.6, 0.45, 0.45)) * (1 + _jitter(rng, 0.2))
    organ = _ellipsoid(grid, organ_center, organ_radii) & body
    signal[organ] = 420.0
    label[organ] = 1
    lesion_radius = float(0.18 + 0.12 * rng.random())
    offset = _jitter(rng, 0.25) * organ_radii
    lesion = _ellipsoid(grid, organ_center + offset, (lesion_radius * 1.4, lesion_radius, lesion_radius)) & organ
    signal[lesion] = 140.0
    label[lesion] = 2
    zz, yy, xx = grid
    bias = 1.0 + 0.25 * (yy * float(rng.random()) + xx * float(rng.random()))
    signal = signal * bias + rng.standard_normal(DOWNSTREAM_SHAPE).astype(np.float32) * 20.0
    return Phantom(np.clip(signal, 0, 4000).astype(np.int16), label, DOWNSTREAM_SPACING)


def make_cases(kind: str, n: int, seed: int) -> dict[str, Phantom]:
    """n phantoms of one kind, case ids `demo_000`..., each from its own child seed."""
    maker = {"ct": ct_like, "mr": mr_like}[kind]
    root = np.random.SeedSequence([seed, 0 if kind == "ct" else 1])
    return {f"demo_{i:03d}": maker(np.random.default_rng(child)) for i, child in enumerate(root.spawn(n))}
