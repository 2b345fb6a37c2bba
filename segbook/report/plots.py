"""PNG plots for the report (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

from pathlib import Path

SCALE_COLOURS = {"B": "#4C72B0", "L": "#DD8452", "H": "#55A868"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # headless: never open a window, containers have no display
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    # No timestamp in the metadata, so a rebuilt report is byte-identical.
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)
    return path


def gain_plot(gains, path: Path, *, ours: bool) -> Path:
    """Fine-tuned minus scratch DSC points per dataset, one panel per STU-Net scale.

    `gains` has columns dataset, scale, gain_paper and (when `ours`) gain.
    """
    plt = _pyplot()
    scales = [s for s in SCALE_COLOURS if s in set(gains["scale"])]
    datasets = sorted(set(gains["dataset"]))
    height = max(2.5, 0.22 * len(datasets) + 1.2)
    fig, axes = plt.subplots(1, max(1, len(scales)), figsize=(4.2 * max(1, len(scales)), height),
                             sharex=True, sharey=True, squeeze=False)
    for ax, scale in zip(axes[0], scales, strict=False):
        part = gains[gains["scale"] == scale].set_index("dataset").reindex(datasets)
        positions = range(len(datasets))
        if ours:
            ax.barh([p + 0.2 for p in positions], part["gain"], height=0.4, color=SCALE_COLOURS[scale],
                    label="ours")
            ax.barh([p - 0.2 for p in positions], part["gain_paper"], height=0.4, color="#999999", label="paper")
            ax.legend(loc="lower right", fontsize=8)
        else:
            ax.barh(list(positions), part["gain_paper"], height=0.7, color=SCALE_COLOURS[scale])
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(f"STU-Net-{scale}: fine-tuned - scratch")
        ax.set_xlabel("DSC points")
        ax.set_yticks(list(positions))
        ax.set_yticklabels(datasets, fontsize=7)
        ax.set_ylim(len(datasets) - 0.5, -0.5)  # first dataset on top
        ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def scatter_plot(table, path: Path, tolerance: float) -> Path:
    """Our DSC against the paper's, per run, with the tolerance band around the diagonal."""
    plt = _pyplot()
    paired = table[table["dsc_paper"].notna()]
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    low = min([0.0] + list(paired["dsc"].dropna()) + list(paired["dsc_paper"]))
    line = [low, 100]
    ax.plot(line, line, color="black", linewidth=0.8)
    ax.fill_between(line, [v - tolerance for v in line], [v + tolerance for v in line], color="#cccccc",
                    alpha=0.5, label=f"±{tolerance:g} points")
    for config in sorted(paired["configuration"].unique()):
        sub = paired[paired["configuration"] == config]
        ax.scatter(sub["dsc_paper"], sub["dsc"], s=22, label=config)
    ax.set_xlabel("paper DSC (%)")
    ax.set_ylabel("our DSC (%)")
    ax.set_xlim(low, 100)
    ax.set_ylim(low, 100)
    ax.set_title("Ours vs paper, per dataset and configuration")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def paper_scatter_plot(table, path: Path) -> Path:
    """The paper's fine-tuned against scratch DSC per dataset and scale (points above the line gain)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    for scale, (scratch, tuned) in {"B": ("base", "base_ft"), "L": ("large", "large_ft"),
                                    "H": ("huge", "huge_ft")}.items():
        ax.scatter(table[scratch], table[tuned], s=14, color=SCALE_COLOURS[scale], label=f"STU-Net-{scale}")
    ax.plot([0, 100], [0, 100], color="black", linewidth=0.8)
    ax.set_xlabel("from scratch DSC (%)")
    ax.set_ylabel("fine-tuned DSC (%)")
    ax.set_title("Paper: fine-tuned vs from scratch, per dataset")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, path)
