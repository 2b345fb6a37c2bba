"""The one list of hashes two runs of the same cell must share: `verify --against` and `make repro-check` both use it.

Flattened to name -> value so a table (repro-check) and a list of findings (verify) show the same
rows: the dataset, split, plans, the pre-trained weights (file and tensors; only where a run had
them), the final weights, and every prediction.
"""

from __future__ import annotations

# what must agree between two runs of the same dataset x configuration x seed, in display order
COMPARED_HASHES = ("dataset", "split", "plans", "pretrained_weights.file_sha256", "pretrained_weights.tensor_sha256",
                   "final_weights", "predictions")


def compared_hashes(receipt: dict) -> dict[str, object]:
    """name -> value of every compared hash in a receipt whose blocks are dicts (checked by the caller)."""
    hashes = receipt.get("hashes") or {}
    flat: dict[str, object] = {"dataset": (receipt.get("dataset") or {}).get("dataset_sha256"),
                               "split": hashes.get("split"), "plans": hashes.get("plans")}
    pretrained = hashes.get("pretrained_weights")
    if isinstance(pretrained, dict):  # scratch runs have none: no row, rather than a row of two blanks
        flat["pretrained_weights.file_sha256"] = pretrained.get("file_sha256")
        flat["pretrained_weights.tensor_sha256"] = pretrained.get("tensor_sha256")
    elif pretrained is not None:
        flat["pretrained_weights.file_sha256"] = flat["pretrained_weights.tensor_sha256"] = repr(pretrained)
    flat["final_weights"] = hashes.get("final_weights")
    for case, value in sorted((hashes.get("predictions") or {}).items()):
        flat[f"prediction {case}"] = value
    return flat


def union_of_names(*tables: dict[str, object]) -> list[str]:
    """Every row name of several flattened tables, in COMPARED_HASHES order, predictions by case."""
    names = {name for table in tables for name in table}
    order = {key: i for i, key in enumerate(COMPARED_HASHES)}
    return sorted(names, key=lambda n: (order["predictions"] if n.startswith("prediction ") else order[n], n))
