"""The nnU-Net metadata files of a prepared dataset: dataset.json, splits_final.json, split.json."""

from __future__ import annotations

from segbook import __version__
from segbook.core.splits import Split

NNUNET_CHANNEL_NAMES = {"CTNormalization": "CT", "NoNormalization": "noNorm",
                        "RescaleTo01Normalization": "rescale_to_0_1"}
_NNUNET_RESERVED = {"ct", "nonorm", "zscore", "rescale_to_0_1", "rgb_to_0_1"}


def nnunet_channel_name(channel: dict) -> str:
    """dataset.json channel name that makes nnU-Net pick the manifest's normalisation."""
    norm = channel["normalization"]
    if norm in NNUNET_CHANNEL_NAMES:
        return NNUNET_CHANNEL_NAMES[norm]
    return "zscore" if channel["name"].casefold() in _NNUNET_RESERVED else channel["name"]


def dataset_json(manifest, split: Split) -> dict:
    return {
        "channel_names": {str(i): nnunet_channel_name(ch) for i, ch in enumerate(manifest.channels)},
        "labels": {name: value for value, name in sorted(manifest.labels.items())},
        "numTraining": len(split.train),
        "file_ending": ".nii.gz",
        "name": manifest.dataset_name,
        "description": f"{manifest.display_name} ({manifest.task_id}), prepared by segbook {__version__}",
        "reference": manifest.source.get("homepage") or "",
        "licence": manifest.source.get("licence", "unknown"),
        "segbook": {"task_id": manifest.task_id, "channels": list(manifest.channel_names),
                    "test_cases": len(split.test), "split_seed": split.seed, "split_sha256": split.sha256},
    }


def prepared_metadata(manifest, split: Split) -> dict[str, object]:
    """The JSON files of a prepared dataset besides the stamp, exactly as written."""
    return {"dataset.json": dataset_json(manifest, split), "splits_final.json": split.nnunet_splits(),
            "split.json": {**split.as_dict(), "sha256": split.sha256}}
