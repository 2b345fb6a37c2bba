"""Pre-trained STU-Net weights: registry (manifests/weights.yaml), fetch, pin, verify, resolve.

Importing this package does not import torch; reading tensors happens only when a file is checked.
"""

from segbook.weights.registry import (
    SCALES,
    WeightsEntry,
    WeightsRegistry,
    default_registry_path,
    load_registry,
    normalise_scale,
)
from segbook.weights.resolve import ResolvedWeights, resolve_pretrained

__all__ = [
    "SCALES", "ResolvedWeights", "WeightsEntry", "WeightsRegistry", "default_registry_path",
    "load_registry", "normalise_scale", "resolve_pretrained",
]
