"""The ledger's heat map: ours minus the paper's DSC per dataset and configuration (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

CLIP_POINTS = 10.0  # colours saturate at ±10 DSC points
STATE_MARK = {"broken": "B", "running": "r", "queued": "q", "preempted": "p", "failed": "F", "pending": "·"}


def heatmap(diff, states, path: Path, tolerance: float) -> Path:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg", force=True)  # headless: login and compute nodes have no display
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    rows, cols = diff.shape
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * max(cols, 1), 1.5 + 0.22 * max(rows, 1)))
    values = np.ma.masked_invalid(diff.to_numpy(dtype=float))
    cmap = matplotlib.colormaps["RdBu"].copy()
    cmap.set_bad("#dddddd")
    image = ax.imshow(values, cmap=cmap, vmin=-CLIP_POINTS, vmax=CLIP_POINTS, aspect="auto", interpolation="none")
    for i in range(rows):
        for j in range(cols):
            state = states.iat[i, j]
            if state == "done":
                value = diff.iat[i, j]
                text = "" if value != value else f"{value:+.1f}"
                weight = "normal" if value != value or abs(value) <= tolerance else "bold"
            else:
                text, weight = STATE_MARK.get(state, ""), "normal"
            ax.text(j, i, text, ha="center", va="center", fontsize=6, fontweight=weight)
    ax.set_xticks(range(cols))
    ax.set_xticklabels(list(diff.columns), rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(rows))
    ax.set_yticklabels(list(diff.index), fontsize=6)
    ax.set_title(f"Ours - paper (DSC points; bold: beyond ±{tolerance:g}); grey: not done "
                 "(r running, q queued, p preempted, F failed)", fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="DSC points")
    # no timestamp in the metadata: a rebuilt ledger is byte-identical
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path
