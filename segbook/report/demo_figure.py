"""The demo's figure: one held-out slice (image, reference, both predictions) and both runs'
pseudo-Dice per epoch, so the table's numbers can be seen.

Everything is read back from what the runs wrote (receipts, prediction files, the nnU-Net log's
progress lines): the figure shows the runs, it is not a second computation of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segbook.core import childreport
from segbook.core.fsio import atomic_write_with
from segbook.core.layout import CASE_FILE_ENDING
from segbook.report.plots import _pyplot, _save

RUN_STYLES = {"fine-tuned": "#DD8452", "scratch": "#4C72B0"}
LABEL_COLOURS = ["#00000000", "#55A868", "#C44E52", "#8172B2", "#CCB974"]  # background transparent


def pseudo_dice_curve(log_file: Path) -> list[tuple[int, float]]:
    """(epoch, pseudo-Dice) from the trainer's progress lines; a resumed epoch's last line wins."""
    by_epoch: dict[int, float] = {}
    if not log_file.is_file():
        return []
    for line in log_file.read_text(errors="replace").splitlines():
        parsed = childreport.parse(line.strip())
        if parsed and parsed[0] == "progress" and parsed[1].get("pseudo_dice") is not None:
            by_epoch[int(parsed[1]["epoch"])] = float(parsed[1]["pseudo_dice"])
    return sorted(by_epoch.items())


def _array(path: Path) -> np.ndarray:
    import SimpleITK as sitk  # noqa: PLC0415 - SimpleITK only when the figure is drawn

    from segbook.core.volumes import read_volume  # noqa: PLC0415 - SimpleITK behind it

    return sitk.GetArrayFromImage(read_volume(path))


def _best_slice(reference: np.ndarray) -> int:
    """The axial slice with the most of the rarest foreground class (the lesion, in the demo)."""
    classes = [c for c in np.unique(reference) if c != 0]
    if not classes:
        return reference.shape[0] // 2
    rarest = min(classes, key=lambda c: int((reference == c).sum()))
    return int(np.argmax((reference == rarest).sum(axis=(1, 2))))


def _show(ax, image: np.ndarray, labels: np.ndarray | None, title: str) -> None:
    from matplotlib.colors import ListedColormap  # noqa: PLC0415 - matplotlib only when drawing

    ax.imshow(image, cmap="gray", interpolation="nearest")
    if labels is not None:
        ax.imshow(labels, cmap=ListedColormap(LABEL_COLOURS), vmin=0, vmax=len(LABEL_COLOURS) - 1,
                  alpha=0.55, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def demo_figure(path: Path, *, image: Path, reference: Path, predictions: dict[str, Path],
                logs: dict[str, Path], dice: dict[str, float | None]) -> Path:
    """Write the PNG (atomically) and return its path.

    predictions / logs / dice are keyed by run name ("fine-tuned", "scratch")."""
    plt = _pyplot()
    volume, truth = _array(image), _array(reference)
    z = _best_slice(truth)
    fig = plt.figure(figsize=(12, 3.4))
    grid = fig.add_gridspec(1, 5, width_ratios=[1, 1, 1, 1, 1.6])
    _show(fig.add_subplot(grid[0]), volume[z], None, f"{image.name.removesuffix('_0000' + CASE_FILE_ENDING)}, "
                                                     f"slice {z}")
    _show(fig.add_subplot(grid[1]), volume[z], truth[z], "reference")
    for column, (name, prediction) in enumerate(predictions.items(), start=2):
        score = dice.get(name)
        _show(fig.add_subplot(grid[column]), volume[z], _array(prediction)[z],
              f"{name} (mean Dice {score:.3f})" if score is not None else name)
    curves = fig.add_subplot(grid[4])
    for name, log in logs.items():
        points = pseudo_dice_curve(log)
        if points:
            curves.plot(*zip(*points, strict=True), marker="o", markersize=3, label=name,
                        color=RUN_STYLES.get(name))
    curves.set_xlabel("epoch")
    curves.set_ylabel("pseudo-Dice (nnU-Net, per epoch)")
    curves.set_ylim(0, 1)
    curves.grid(alpha=0.3)
    curves.legend(fontsize=8, loc="lower right")
    fig.suptitle("segbook demo (SYNTHETIC phantoms): held-out test case and training curves", fontsize=10)
    fig.tight_layout()
    return atomic_write_with(Path(path), lambda tmp: _save(fig, tmp))
