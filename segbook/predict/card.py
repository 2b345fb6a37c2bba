"""MODEL_CARD.md of an exported cell: what it is, how it was trained, how well, and on whose data."""

from __future__ import annotations

RESTRICTIVE = {"NC": "non-commercial: this model was trained on data licensed for non-commercial use only; "
                     "check whether that licence reaches a model trained on it before any commercial use",
               "SA": "share-alike: the training data's licence asks that adaptations be shared under the same "
                     "terms; check whether it reaches this model before you redistribute it",
               "ND": "no-derivatives: the training data's licence forbids adaptations; check whether it reaches "
                     "this model before you redistribute it"}


def licence_warnings(licence: str | None) -> list[str]:
    """Plain warnings for a Creative Commons-style licence's NC / SA / ND elements (none for unknown)."""
    if not licence or licence == "unknown":
        return []
    parts = licence.upper().replace("-", " ").split()
    return [text for key, text in RESTRICTIVE.items() if key in parts]


def model_card(receipts: list[dict]) -> str:
    first = receipts[0]
    dataset = first.get("dataset") or {}
    configuration = first.get("configuration") or {}
    options = configuration.get("options") or {}
    licence, access = dataset.get("licence") or "unknown", dataset.get("access") or "unknown"
    lines = [f"# {dataset.get('name') or dataset.get('task_id')} ({dataset.get('task_id')}): "
             f"{configuration.get('name')}", "",
             f"Exported by the SegBook kit {(first.get('kit') or {}).get('version')}; trained with nnU-Net "
             f"{(first.get('versions') or {}).get('nnunetv2')} and the kit's {configuration.get('trainer')} "
             f"(plans {(configuration.get('plan') or {}).get('plans_name')}).", "",
             "## Training", "",
             f"- model {configuration.get('model')}, initialisation {configuration.get('init')}, initial learning "
             f"rate {configuration.get('initial_lr')}",
             f"- {configuration.get('epochs')} epochs x {configuration.get('iterations_per_epoch')} iterations; "
             f"options {', '.join(f'{k}={v}' for k, v in sorted(options.items())) or 'not recorded'}",
             f"- training cases {dataset.get('num_train')}, held-out test cases {dataset.get('num_test')}; "
             f"dataset content sha256 {dataset.get('dataset_sha256')}", "",
             "## Held-out results (per fold, from each fold's receipt)", "",
             "| fold | test cases | mean Dice | per class |", "|---|---|---|---|"]
    for receipt in receipts:
        summary = (receipt.get("metrics") or {}).get("summary") or {}
        per_class = ", ".join(f"{v.get('name')} {v.get('dice'):.4f}" for v in (summary.get("per_class") or {}).values()
                              if isinstance(v, dict) and isinstance(v.get("dice"), int | float))
        dice = summary.get("mean_dice")
        lines.append(f"| {(receipt.get('configuration') or {}).get('fold')} | {summary.get('n_cases')} | "
                     f"{dice:.4f} | {per_class} |" if isinstance(dice, int | float) else "| ? | ? | ? | ? |")
    lines += ["", "## Training data", "", f"- source: {dataset.get('source')}",
              f"- access: {access}", f"- licence: {licence}" + (" (the kit's sources do not state it: find out "
                                                                 "before you use or share this model)"
                                                                 if licence == "unknown" else "")]
    lines += [f"- **WARNING, {w}**" for w in licence_warnings(licence)]
    lines += ["", "## Checking and running it", "",
              "- `SHA256SUMS` lists every other file of this folder (`sha256sum -c SHA256SUMS` here); each "
              "fold's `segbook_receipt.json` is its run's receipt; `segbook predict MODEL.zip INPUT OUTPUT` "
              "checks both before it loads anything.",
              "- plain nnU-Net: `nnUNetv2_install_pretrained_model_from_zip MODEL.zip`, then `nnUNetv2_predict` "
              f"with `-tr {configuration.get('trainer')}`; the trainer class is in the SegBook kit's package "
              "(install it, or point `nnUNet_extTrainer` at its `segbook/nnunet/ext_trainers`): docs/predict.md.",
              ""]
    return "\n".join(lines)
