"""The experiment report: Markdown tables and two plots."""

from __future__ import annotations

import statistics
from datetime import datetime, timezone
from pathlib import Path

from vlmtsc.experiments._grid import MINIROCKET, config_label

__all__ = ["summarize", "write_report"]

_CONFIG_COLUMNS = ("estimator", "renderer", "prompt_mode", "context_budget", "n_epochs")
ACCURACY_PLOT = "accuracy_per_scenario.png"
TIME_PLOT = "accuracy_vs_fit_time.png"


def _is_reference(row) -> bool:
    return str(row.get("estimator_spec") or "").lower() == MINIROCKET


def _cell(value, spec: str = "") -> str:
    if value is None:
        return ""
    text = format(value, spec) if spec else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], align: str, rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", align]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def _reference_accuracy(rows) -> dict:
    """Mean MiniRocket accuracy per dataset (over its finished runs)."""
    scores: dict[str, list[float]] = {}
    for row in rows:
        if _is_reference(row) and row.get("status") == "ok":
            scores.setdefault(row["dataset"], []).append(row["accuracy"])
    return {dataset: statistics.fmean(values) for dataset, values in scores.items()}


def summarize(rows: list[dict]) -> list[dict]:
    """Mean results per estimator configuration (over datasets and seeds).

    Parameters
    ----------
    rows : list of dict
        Results rows (see :data:`RESULT_COLUMNS`).

    Returns
    -------
    summary : list of dict
        Per configuration, in order of first appearance: its columns, ``label``,
        ``runs``, ``ok``, ``datasets``, ``mean_accuracy``, ``mean_gap_minirocket``
        (accuracy minus MiniRocket's mean accuracy on the same dataset, over the
        datasets where both have a score), ``mean_fit_s``, ``mean_predict_s``,
        ``is_reference``.

    Examples
    --------
    >>> rows = [
    ...     {"dataset": "A", "estimator": "minirocket", "estimator_spec": "minirocket",
    ...      "status": "ok", "accuracy": 0.9, "fit_s": 1.0, "predict_s": 0.1},
    ...     {"dataset": "A", "estimator": "vlm", "estimator_spec": "x",
    ...      "renderer": "gaf", "status": "ok", "accuracy": 0.8, "fit_s": 9.0,
    ...      "predict_s": 2.0},
    ... ]
    >>> [(s["label"], round(s["mean_gap_minirocket"], 2)) for s in summarize(rows)]
    [('minirocket', 0.0), ('vlm · gaf', -0.1)]
    """
    reference = _reference_accuracy(rows)
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        key = tuple(row.get(c) for c in _CONFIG_COLUMNS)
        groups.setdefault(key, []).append(row)
    summary = []
    for key, members in groups.items():
        ok = [r for r in members if r.get("status") == "ok"]
        gaps = [r["accuracy"] - reference[r["dataset"]] for r in ok
                if r["dataset"] in reference]  # fmt: skip
        summary.append(
            {
                **dict(zip(_CONFIG_COLUMNS, key, strict=True)),
                "label": config_label(members[0]),
                "runs": len(members),
                "ok": len(ok),
                "datasets": len({r["dataset"] for r in ok}),
                "mean_accuracy": (
                    statistics.fmean(r["accuracy"] for r in ok) if ok else None
                ),
                "mean_gap_minirocket": statistics.fmean(gaps) if gaps else None,
                "mean_fit_s": (
                    statistics.fmean(r["fit_s"] for r in ok) if ok else None
                ),
                "mean_predict_s": (
                    statistics.fmean(r["predict_s"] for r in ok) if ok else None
                ),
                "is_reference": _is_reference(members[0]),
            }
        )
    return summary


def summary_table(rows: list[dict]) -> str:
    """The mean-per-configuration table in Markdown.

    Parameters
    ----------
    rows : list of dict

    Returns
    -------
    table : str
    """
    header = ["estimator", "renderer", "prompt mode", "context budget", "epochs",
              "runs ok", "datasets", "mean accuracy", "acc − MiniRocket",
              "mean fit s", "mean predict s"]  # fmt: skip
    align = "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    body = [
        [_cell(s["estimator"]), _cell(s["renderer"]), _cell(s["prompt_mode"]),
         _cell(s["context_budget"]), _cell(s["n_epochs"]),
         f"{s['ok']}/{s['runs']}", str(s["datasets"]),
         _cell(s["mean_accuracy"], ".3f"), _cell(s["mean_gap_minirocket"], "+.3f"),
         _cell(s["mean_fit_s"], ".2f"), _cell(s["mean_predict_s"], ".2f")]
        for s in summarize(rows)
    ]  # fmt: skip
    return _table(header, align, body)


def scenario_table(rows: list[dict]) -> str:
    """The accuracy-per-scenario table in Markdown (one line per run).

    Parameters
    ----------
    rows : list of dict

    Returns
    -------
    table : str
    """
    header = ["dataset", "estimator", "renderer", "prompt mode", "context budget",
              "epochs", "seed", "accuracy", "fit s", "predict s", "status"]  # fmt: skip
    align = "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|"
    body = [
        [_cell(r["dataset"]), _cell(r["estimator"]), _cell(r.get("renderer")),
         _cell(r.get("prompt_mode")), _cell(r.get("context_budget")),
         _cell(r.get("n_epochs")), _cell(r.get("seed")),
         _cell(r.get("accuracy"), ".3f"), _cell(r.get("fit_s"), ".2f"),
         _cell(r.get("predict_s"), ".2f"), _cell(r.get("status"))]
        for r in rows
    ]  # fmt: skip
    return _table(header, align, body)


# ------------------------------------------------------------------------ plots
def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(figure)
    return figure


_MARKERS = "osD^v<>PXh"


def plot_accuracy(rows: list[dict], path) -> Path:
    """Dot plot: test accuracy of every run, one line per configuration.

    Parameters
    ----------
    rows : list of dict
    path : str or os.PathLike
        PNG to write.

    Returns
    -------
    path : pathlib.Path
    """
    summary = summarize(rows)
    labels = [s["label"] for s in summary]
    ok = [r for r in rows if r.get("status") == "ok"]
    datasets = list(dict.fromkeys(r["dataset"] for r in ok))
    figure = _figure(8.0, 1.6 + 0.42 * max(len(labels), 1))
    ax = figure.subplots()
    spread = 0.5 / max(len(datasets), 1)
    for j, dataset in enumerate(datasets):
        members = [r for r in ok if r["dataset"] == dataset]
        ax.scatter(
            [r["accuracy"] for r in members],
            [
                labels.index(config_label(r)) + (j - (len(datasets) - 1) / 2) * spread
                for r in members
            ],
            marker=_MARKERS[j % len(_MARKERS)],
            s=36,
            alpha=0.85,
            label=dataset,
            zorder=3,
        )
    means = [(i, s["mean_accuracy"]) for i, s in enumerate(summary)
             if s["mean_accuracy"] is not None]  # fmt: skip
    if means:
        ax.scatter(
            [m for _, m in means], [i for i, _ in means], marker="|", s=400,
            color="black", label="mean", zorder=4,
        )  # fmt: skip
    ax.set_yticks(range(len(labels)), labels)
    for tick, entry in zip(ax.get_yticklabels(), summary, strict=True):
        if entry["is_reference"]:
            tick.set_fontweight("bold")
    ax.set_ylim(max(len(labels), 1) - 0.5, -0.5)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("test accuracy")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Accuracy per scenario (standard test split)")
    if not ok:
        ax.text(0.5, 0.5, "no finished runs", ha="center", transform=ax.transAxes)
    if datasets:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
                  title="dataset")  # fmt: skip
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, bbox_inches="tight")
    return path


def plot_time(rows: list[dict], path) -> Path:
    """Accuracy against fit time (log scale), MiniRocket on the same axes.

    Colour: configuration (MiniRocket in black stars); marker: dataset.

    Parameters
    ----------
    rows : list of dict
    path : str or os.PathLike
        PNG to write.

    Returns
    -------
    path : pathlib.Path
    """
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    ok = [r for r in rows if r.get("status") == "ok" and r.get("fit_s") is not None]
    datasets = list(dict.fromkeys(r["dataset"] for r in ok))
    summary = summarize(ok)
    figure = _figure(8.5, 5.0)
    ax = figure.subplots()
    n_colors = sum(not s["is_reference"] for s in summary)
    palette = (
        [f"C{i}" for i in range(10)]
        if n_colors <= 10
        else [colormaps["tab20"](i) for i in range(20)]
    )
    handles = []
    color_index = 0
    for entry in summary:
        members = [r for r in ok if config_label(r) == entry["label"]]
        if entry["is_reference"]:
            color, size, zorder = "black", 140, 4
        else:
            color, size, zorder = palette[color_index % len(palette)], 46, 3
            color_index += 1
        for j, dataset in enumerate(datasets):
            points = [r for r in members if r["dataset"] == dataset]
            if not points:
                continue
            ax.scatter(
                [max(r["fit_s"], 1e-3) for r in points],
                [r["accuracy"] for r in points],
                color=color,
                marker="*" if entry["is_reference"] else _MARKERS[j % len(_MARKERS)],
                s=size,
                alpha=0.9,
                edgecolors="white" if entry["is_reference"] else "none",
                zorder=zorder,
            )
        handles.append(
            Line2D([], [], color=color, marker="*" if entry["is_reference"] else "o",
                   linestyle="", markersize=9 if entry["is_reference"] else 6,
                   label=entry["label"])
        )  # fmt: skip
    for j, dataset in enumerate(datasets):
        handles.append(
            Line2D([], [], color="grey", marker=_MARKERS[j % len(_MARKERS)],
                   linestyle="", label=f"dataset: {dataset}")
        )  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("fit time (seconds, log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3, which="both")
    ax.set_title("Accuracy against fit time (MiniRocket: black stars)")
    if not ok:
        ax.text(0.5, 0.5, "no finished runs", ha="center", transform=ax.transAxes)
    if handles:
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5),
                  frameon=False, fontsize="small")  # fmt: skip
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, bbox_inches="tight")
    return path


# ----------------------------------------------------------------------- report
def write_report(rows: list[dict], output, *, name="experiment", pending=0) -> Path:
    """Write ``report.md`` and its two plots into ``output``.

    Parameters
    ----------
    rows : list of dict
        Results rows, e.g. from :func:`run_experiment` or :func:`read_results`.
    output : str or os.PathLike
        Folder to write into.
    name : str, default="experiment"
        Title.
    pending : int, default=0
        Runs of the grid not finished yet (mentioned in the report).

    Returns
    -------
    path : pathlib.Path
        The Markdown report.
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    ok = sum(r.get("status") == "ok" for r in rows)
    failed = [r for r in rows if r.get("status") != "ok"]
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    plot_accuracy(rows, output / ACCURACY_PLOT)
    plot_time(rows, output / TIME_PLOT)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    status = f"{len(rows)} runs finished: {ok} ok, {len(failed)} failed"
    if pending:
        status += f"; {pending} pending (run the experiment again to finish them)"
    lines = [
        f"# {name}",
        "",
        f"{status}. Datasets: {', '.join(datasets) or 'none'}. Each run fits on the "
        "standard train split and is scored once on the standard test split. "
        f"Written {stamp}; raw numbers in `results.csv`.",
        "",
        "## Mean per estimator configuration",
        "",
        "Over datasets and seeds. *acc − MiniRocket*: accuracy minus MiniRocket's "
        "mean accuracy on the same dataset.",
        "",
        summary_table(rows),
        "",
        "## Accuracy per scenario",
        "",
        scenario_table(rows),
        "",
        "![Accuracy per scenario](" + ACCURACY_PLOT + ")",
        "",
        "![Accuracy against fit time](" + TIME_PLOT + ")",
        "",
    ]
    if failed:
        lines += [
            "## Failed runs",
            "",
            "Full tracebacks are in `runs/<run id>.json`; `--retry-errors` runs "
            "them again.",
            "",
            _table(
                ["run id", "dataset", "estimator", "error"],
                "|---|---|---|---|",
                [
                    [
                        _cell(r["run_id"]),
                        _cell(r["dataset"]),
                        _cell(r["estimator"]),
                        _cell(r.get("error")),
                    ]
                    for r in failed
                ],
            ),
            "",
        ]
    path = output / "report.md"
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")
    return path
