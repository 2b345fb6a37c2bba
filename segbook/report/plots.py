"""PNG plots for the report (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

from pathlib import Path

from segbook.core.configurations import SCALES

SCALE_COLOURS = {"B": "#4C72B0", "L": "#DD8452", "H": "#55A868"}


def _pyplot():
    import matplotlib  # noqa: PLC0415 - matplotlib only when a plot is drawn

    matplotlib.use("Agg", force=True)  # headless: never open a window, containers have no display
    import matplotlib.pyplot as plt  # noqa: PLC0415 - matplotlib only when a plot is drawn

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


ACCEPTANCE_COLOURS = {"interval": "#1b9e5a", "tolerance": "#2f6fd0", "neither": "#d1495b"}
ACCEPTANCE_LABELS = {"interval": "paper inside our 95 % CI", "tolerance": "within tolerance only",
                     "neither": "neither"}
CONFIG_MARKERS = "osD^vP*X<>"


def scatter_plot(table, path: Path, tolerance: float) -> Path:
    """Our DSC against the paper's, per cell, with the tolerance band around the diagonal.

    With acceptance columns (acceptance.add_acceptance): each point carries its 95 % bootstrap
    interval as a vertical bar and is coloured by its acceptance class; one marker shape per
    configuration; cells whose receipt did not verify are crossed out in black.
    """
    plt = _pyplot()
    from matplotlib.lines import Line2D  # noqa: PLC0415 - matplotlib only when a plot is drawn

    paired = table[table["dsc_paper"].notna() & table["dsc"].notna()]
    fig, ax = plt.subplots(figsize=(5.4, 4.9))
    values = list(paired["dsc"]) + list(paired["dsc_paper"])
    if "ci_low" in paired:
        values += list(paired["ci_low"].dropna())
    low = max(0.0, (min(values) if values else 0.0) - 5.0)
    line = [low, 100]
    ax.plot(line, line, color="black", linewidth=0.8)
    ax.fill_between(line, [v - tolerance for v in line], [v + tolerance for v in line], color="#cccccc",
                    alpha=0.5, linewidth=0)
    configs = sorted(paired["configuration"].unique())
    markers = {c: CONFIG_MARKERS[i % len(CONFIG_MARKERS)] for i, c in enumerate(configs)}
    # one artist per configuration, not per cell: a grid's 609 cells drew in seconds one by one
    kinds = list(paired["acceptance"]) if "acceptance" in paired else [""] * len(paired)
    colours = [ACCEPTANCE_COLOURS.get(str(k), "#555555") for k in kinds]
    paired = paired.assign(_colour=colours)
    if "ci_low" in paired:
        bars = paired[paired["ci_low"].notna()]
        ax.vlines(bars["dsc_paper"], bars["ci_low"], bars["ci_high"], colors=list(bars["_colour"]), linewidth=1.2,
                  alpha=0.8)
    for config in configs:
        group = paired[paired["configuration"] == config]
        ax.scatter(group["dsc_paper"], group["dsc"], s=30, c=list(group["_colour"]), marker=markers[config],
                   edgecolors="white", linewidths=0.5, zorder=3)
    if "verified" in paired:
        crossed = paired[paired["verified"] == "UNVERIFIED"]
        if len(crossed):
            ax.scatter(crossed["dsc_paper"], crossed["dsc"], s=90, color="black", marker="x", linewidth=1.6, zorder=4)
    handles = [Line2D([], [], color="#cccccc", linewidth=6, label=f"±{tolerance:g} points")]
    if "acceptance" in paired:
        handles += [Line2D([], [], color=c, marker="o", linestyle="", label=ACCEPTANCE_LABELS[k])
                    for k, c in ACCEPTANCE_COLOURS.items() if (paired["acceptance"] == k).any()]
        if (paired.get("verified") == "UNVERIFIED").any():
            handles.append(Line2D([], [], color="black", marker="x", linestyle="", label="receipt UNVERIFIED"))
    handles += [Line2D([], [], color="#555555", marker=markers[c], linestyle="", label=c) for c in configs]
    ax.set_xlabel("paper DSC (%)")
    ax.set_ylabel("our DSC (%), bar: 95 % bootstrap CI")
    ax.set_xlim(low, 100)
    ax.set_ylim(low, 100)
    ax.set_title("Ours vs paper, per cell")
    ax.legend(handles=handles, fontsize=7, loc="lower right", framealpha=0.9)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def paper_scatter_plot(table, path: Path) -> Path:
    """The paper's fine-tuned against scratch DSC per dataset and scale (points above the line gain)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    for scale, (scratch, tuned) in SCALES.items():
        ax.scatter(table[scratch], table[tuned], s=14, color=SCALE_COLOURS[scale], label=f"STU-Net-{scale}")
    ax.plot([0, 100], [0, 100], color="black", linewidth=0.8)
    ax.set_xlabel("from scratch DSC (%)")
    ax.set_ylabel("fine-tuned DSC (%)")
    ax.set_title("Paper: fine-tuned vs from scratch, per dataset")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def forest_plot(comparisons, path: Path) -> Path:
    """One panel per compared pair (e.g. STU-Net-B fine-tuned − scratch), one row per dataset: the mean
    per-case difference A − B (DSC points) and its paired 95 % bootstrap interval; rows with too few
    cases for a test are hollow. Where fine-tuned vs scratch pairs exist only they are drawn (a full
    grid has ten pairs per dataset: the CSV has all). Panels side by side share the dataset rows, so a
    whole grid is 87 rows, not 261."""
    plt = _pyplot()
    rows = comparisons.dropna(subset=["diff_a_minus_b"])
    transfer = rows[rows["config_b"].astype(str).str.endswith("_scratch")]
    rows = transfer if len(transfer) else rows  # the paper's question first: fine-tuned vs scratch
    pairs = list(dict.fromkeys(zip(rows["config_a"], rows["config_b"], strict=True)))
    datasets = list(dict.fromkeys(rows["task_id"]))
    position = {task: i for i, task in enumerate(datasets)}
    fig, axes = plt.subplots(1, len(pairs), sharey=True, squeeze=False, layout="constrained",
                             figsize=(1.2 + 3.0 * len(pairs), max(2.2, 0.22 * len(datasets) + 1.4)))
    for ax, (config_a, config_b) in zip(axes[0], pairs, strict=True):
        panel = rows[(rows["config_a"] == config_a) & (rows["config_b"] == config_b)]
        verdicts = panel["verdict"].astype(str)
        colours = ["#1b9e5a" if v.endswith("better") else "#d1495b" if v.endswith("worse") else "#555555"
                   for v in verdicts]
        ys = [position[task] for task in panel["task_id"]]
        # one call per kind of mark, not one per row
        ax.hlines(ys, panel["ci_low"], panel["ci_high"], colors=colours, linewidth=1.6)
        ax.scatter(panel["diff_a_minus_b"], ys, s=30, zorder=3, edgecolors=colours, linewidths=1.3,
                   c=[c if not v.startswith("too few") else "white" for c, v in zip(colours, verdicts, strict=True)])
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(f"{config_a}\n− {config_b}", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=7)
    cases = rows.groupby("task_id")["n_cases"].agg(["min", "max"])
    axes[0][0].set_yticks(range(len(datasets)))
    axes[0][0].set_yticklabels([f"{task} (n={_span(cases.loc[task])})" for task in datasets], fontsize=7)
    axes[0][0].set_ylim(len(datasets) - 0.5, -0.5)  # first dataset on top
    fig.supxlabel("mean per-case difference A − B, DSC points (95 % paired bootstrap CI); hollow: too few cases",
                  fontsize=8)
    fig.suptitle("Paired comparisons per dataset", fontsize=10)
    return _save(fig, path)


def _span(counts) -> str:
    low, high = int(counts["min"]), int(counts["max"])
    return str(low) if low == high else f"{low}-{high}"
