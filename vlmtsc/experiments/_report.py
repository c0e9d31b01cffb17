"""The experiment report: Markdown tables and two plots; the one results writer."""

from __future__ import annotations

import statistics
from datetime import datetime, timezone
from pathlib import Path

from vlmtsc.experiments._grid import MINIROCKET, config_label
from vlmtsc.experiments._results import (
    MEASURE_COLUMNS,
    RESULT_COLUMNS,
    atomic_write,
    write_csv,
    write_json,
)

__all__ = [
    "accuracy_table",
    "scenario_table",
    "summarize",
    "summary_table",
    "write_report",
    "write_results",
]

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


def relative_to_reference(rows: list[dict]) -> list[tuple]:
    """Each run against MiniRocket on the same dataset.

    The one definition of the "relative to MiniRocket" columns: accuracy minus
    MiniRocket's mean accuracy on the same dataset, and fit time divided by
    MiniRocket's mean fit time there (over MiniRocket's finished runs, e.g. its
    seeds).

    Parameters
    ----------
    rows : list of dict
        Results rows.

    Returns
    -------
    relative : list of (float or None, float or None)
        ``(accuracy gap, fit-time ratio)`` per row; None where the row or
        MiniRocket has no score on that dataset.
    """
    accuracy: dict[str, list[float]] = {}
    fit_s: dict[str, list[float]] = {}
    for row in rows:
        if _is_reference(row) and row.get("status") == "ok":
            accuracy.setdefault(row["dataset"], []).append(row["accuracy"])
            fit_s.setdefault(row["dataset"], []).append(row["fit_s"])
    out = []
    for row in rows:
        gap = ratio = None
        if row.get("status") == "ok" and row["dataset"] in accuracy:
            gap = row["accuracy"] - statistics.fmean(accuracy[row["dataset"]])
            reference_s = statistics.fmean(fit_s[row["dataset"]])
            if row.get("fit_s") is not None and reference_s > 0:
                ratio = row["fit_s"] / reference_s
        out.append((gap, ratio))
    return out


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
        datasets where both have a score), ``mean_fit_ratio_minirocket`` (fit
        time over MiniRocket's on the same dataset, see
        :func:`relative_to_reference`), ``mean_fit_s``, ``mean_predict_s``,
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
    relative = relative_to_reference(rows)
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        key = tuple(row.get(c) for c in _CONFIG_COLUMNS)
        groups.setdefault(key, []).append(i)
    summary = []
    for key, index in groups.items():
        members = [rows[i] for i in index]
        ok = [r for r in members if r.get("status") == "ok"]
        gaps = [relative[i][0] for i in index if relative[i][0] is not None]
        ratios = [relative[i][1] for i in index if relative[i][1] is not None]
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
                "mean_fit_ratio_minirocket": (
                    statistics.fmean(ratios) if ratios else None
                ),
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
              "mean fit s", "mean predict s", "fit time / MiniRocket"]  # fmt: skip
    align = "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    body = [
        [_cell(s["estimator"]), _cell(s["renderer"]), _cell(s["prompt_mode"]),
         _cell(s["context_budget"]), _cell(s["n_epochs"]),
         f"{s['ok']}/{s['runs']}", str(s["datasets"]),
         _cell(s["mean_accuracy"], ".3f"), _cell(s["mean_gap_minirocket"], "+.3f"),
         _cell(s["mean_fit_s"], ".2f"), _cell(s["mean_predict_s"], ".2f"),
         _ratio(s["mean_fit_ratio_minirocket"])]
        for s in summarize(rows)
    ]  # fmt: skip
    return _table(header, align, body)


def _ratio(value) -> str:
    """``12.3x`` (times MiniRocket's fit time); two digits below 0.1."""
    if value is None:
        return ""
    return f"{value:.1f}x" if value >= 0.1 else f"{value:.2g}x"


def accuracy_table(rows: list[dict]) -> str:
    """Test accuracy per dataset (rows) and configuration (columns), in Markdown.

    A cell is the mean over the configuration's finished runs on that dataset,
    with the (population) standard deviation when there are several (seeds).
    The last row is the mean over the datasets on which every configuration
    has a score, so the means compare like with like.

    Parameters
    ----------
    rows : list of dict

    Returns
    -------
    table : str

    Examples
    --------
    >>> rows = [
    ...     {"dataset": "A", "estimator": "knn", "status": "ok", "accuracy": 0.8},
    ...     {"dataset": "A", "estimator": "knn", "status": "ok", "accuracy": 0.9},
    ...     {"dataset": "B", "estimator": "knn", "status": "ok", "accuracy": 1.0},
    ... ]
    >>> print(accuracy_table(rows))
    | dataset | knn |
    |---|---:|
    | A | 0.850 ± 0.050 |
    | B | 1.000 |
    | **mean** (2 datasets) | **0.925** |
    """
    labels = list(dict.fromkeys(config_label(row) for row in rows))
    scores: dict[tuple, list[float]] = {}
    for row in rows:
        if row.get("status") == "ok":
            key = (row["dataset"], config_label(row))
            scores.setdefault(key, []).append(row["accuracy"])
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    body = []
    for dataset in datasets:
        cells = [_cell(dataset)]
        for label in labels:
            values = scores.get((dataset, label), [])
            text = f"{statistics.fmean(values):.3f}" if values else ""
            if len(values) > 1:
                text += f" ± {statistics.pstdev(values):.3f}"
            cells.append(text)
        body.append(cells)
    common = [d for d in datasets if all((d, label) in scores for label in labels)]
    means = [
        f"**{statistics.fmean(statistics.fmean(scores[d, lab]) for d in common):.3f}**"
        if common
        else ""
        for lab in labels
    ]
    n = len(common)
    body.append([f"**mean** ({n} dataset{'s' if n != 1 else ''})", *means])
    header = ["dataset", *(_cell(label) for label in labels)]
    return _table(header, "|---|" + "---:|" * len(labels), body)


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
              "epochs", "seed", "accuracy", "fit s", "predict s", "status",
              "acc − MiniRocket", "fit time / MiniRocket"]  # fmt: skip
    align = "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"
    measured = [c for c in _MEASURED if any(r.get(c) is not None for r in rows)]
    header += [_MEASURED[c][0] for c in measured]
    align += "---:|" * len(measured)
    body = [
        [_cell(r["dataset"]), _cell(r["estimator"]), _cell(r.get("renderer")),
         _cell(r.get("prompt_mode")), _cell(r.get("context_budget")),
         _cell(r.get("n_epochs")), _cell(r.get("seed")),
         _cell(r.get("accuracy"), ".3f"), _cell(r.get("fit_s"), ".2f"),
         _cell(r.get("predict_s"), ".2f"), _cell(r.get("status")),
         _cell(gap, "+.3f"), _ratio(ratio),
         *(_cell(r.get(c), _MEASURED[c][1]) for c in measured)]
        for r, (gap, ratio) in zip(rows, relative_to_reference(rows), strict=True)
    ]  # fmt: skip
    return _table(header, align, body)


# Optional columns of the per-run table: (header, format).
_MEASURED = {
    "threads": ("threads", ""),
    "peak_mib": ("peak MiB", ".1f"),
    "train_tokens_per_s": ("train tok/s", ".0f"),
    "train_flop_fraction": ("FLOP/s / matmul peak", ".0%"),
}


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
    return atomic_write(
        path, lambda tmp: figure.savefig(tmp, format="png", bbox_inches="tight")
    )


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
    return atomic_write(
        path, lambda tmp: figure.savefig(tmp, format="png", bbox_inches="tight")
    )


# ----------------------------------------------------------------------- report
def _environment_lines(environment: dict) -> list[str]:
    versions = ", ".join(f"{k} {v}" for k, v in environment["versions"].items() if v)
    lines = [
        "## Environment",
        "",
        f"Command: `{environment['command']}`  ",
        f"Python {environment['python']}; {versions}  ",
        f"{environment['platform']}; {environment['cpus_available']} of "
        f"{environment['cpu_count']} CPUs available; threads per run: "
        f"{environment.get('threads') or 'not capped'}"
        + (
            f"; joblib backend {environment['backend']}"
            if environment.get("backend")
            else ""
        )
        + "  ",
        "Peak memory: " + environment["memory_method"] + ". Throughput: FLOP/s "
        "as a fraction of the machine's matmul peak (best of float32 and bfloat16) "
        "measured in the same process with the same threads. All of it is in "
        "`environment.json`.",
        "",
    ]
    return lines


def write_report(
    rows: list[dict],
    output,
    *,
    name="experiment",
    pending=0,
    environment=None,
    notes="",
) -> Path:
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
    environment : dict, optional
        From :func:`environment_info`: the command, versions and machine, shown
        in an "Environment" section.
    notes : str, default=""
        Markdown shown under the first paragraph (what a table alone does not
        say, e.g. the settings of a script).

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
        *([notes.strip(), ""] if notes.strip() else []),
        *(_environment_lines(environment) if environment else []),
        "## Mean per estimator configuration",
        "",
        "Over datasets and seeds. *acc − MiniRocket*: accuracy minus MiniRocket's "
        "mean accuracy on the same dataset; *fit time / MiniRocket*: fit time "
        "divided by MiniRocket's on the same dataset.",
        "",
        summary_table(rows),
        "",
        "## Accuracy per dataset",
        "",
        "Mean over seeds (± standard deviation where there are several).",
        "",
        accuracy_table(rows),
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
                        _cell(r.get("run_id")),
                        _cell(r["dataset"]),
                        _cell(r["estimator"]),
                        _cell(r.get("error")),
                    ]
                    for r in failed
                ],
            ),
            "",
        ]
    text = "\n".join(lines).rstrip("\n") + "\n"
    return atomic_write(
        output / "report.md", lambda tmp: tmp.write_text(text, encoding="utf-8")
    )


def write_results(
    rows: list[dict],
    output,
    *,
    name="experiment",
    pending=0,
    environment=None,
    notes="",
    report=True,
) -> list[dict]:
    """Write the results of runs: the one writer of every benchmark.

    ``results.csv`` (one row per run: :data:`RESULT_COLUMNS`, then the
    :data:`MEASURE_COLUMNS` some run has), ``environment.json`` (if given) and
    ``report.md`` with its plots; every file is written atomically.
    :func:`run_experiment` ends with it, and the scripts under ``benchmarks/``
    that are not grids write their rows with it.

    Parameters
    ----------
    rows : list of dict
        One per run: at least ``dataset``, ``estimator``, ``status``,
        ``accuracy`` and ``fit_s`` (as :func:`run_estimator` gives, plus the
        keys); ``estimator_spec="minirocket"`` marks the reference.
    output : str or os.PathLike
        Folder (created).
    name : str, default="experiment"
        Title of the report.
    pending : int, default=0
        Runs not finished yet.
    environment : dict, optional
        From :func:`environment_info`.
    notes : str, default=""
        Markdown for the report (see :func:`write_report`).
    report : bool, default=True
        Also write ``report.md`` and the plots.

    Returns
    -------
    rows : list of dict
        The rows as written, keyed by the columns of ``results.csv``.
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    columns = [*RESULT_COLUMNS] + [
        c for c in MEASURE_COLUMNS if any(r.get(c) is not None for r in rows)
    ]
    rows = [{k: row.get(k) for k in columns} for row in rows]
    write_csv(output / "results.csv", rows, columns)
    if environment is not None:
        write_json(output / "environment.json", environment)
    if report:
        write_report(
            rows, output, name=name, pending=pending, environment=environment,
            notes=notes,
        )  # fmt: skip
    return rows
