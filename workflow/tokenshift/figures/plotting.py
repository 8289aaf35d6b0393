"""Figure conventions shared by every plot: one style (seaborn whitegrid, paper context, a colour-blind
palette, small fonts, widths that fit a two-column paper), log axes with a stated floor, and PDF + PNG
written atomically."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tokenshift.files.atomic import atomic_file  # noqa: E402

COLUMN_WIDTH = 3.4  # inches: one column of a two-column paper
FULL_WIDTH = 7.0  # both columns
JS_FLOOR = 1e-6  # log JS axes start here; smaller values (exact zeros included) are drawn at the floor
STYLE = {"axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
         "legend.fontsize": 7, "legend.title_fontsize": 7, "figure.titlesize": 9, "font.size": 8}


def apply_style() -> None:
    """The one style of every figure."""
    sns.set_theme(style="whitegrid", context="paper", palette="colorblind", rc=STYLE)


def subplots(*args: Any, **kwargs: Any) -> tuple[Figure, Any]:
    """``plt.subplots`` in the project's style."""
    apply_style()
    return plt.subplots(*args, **kwargs)


def new_figure(width: float = 5.0, height: float = 3.5, **kwargs: Any) -> tuple[Figure, Any]:
    """A (fig, ax) pair in the project's style."""
    return subplots(figsize=(width, height), **kwargs)


def panel_grid(n: int, per_row: int, width: float, height: float, **kwargs: Any) -> tuple[Figure, list[Any]]:
    """``n`` panels of ``width`` x ``height`` inches in rows of up to ``per_row``, the unused cells of the
    last row removed: (fig, the ``n`` axes in reading order)."""
    ncols = min(n, per_row)
    nrows = math.ceil(n / ncols)
    fig, axes = subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kwargs)
    for ax in axes.flat[n:]:
        ax.remove()
    return fig, list(axes.flat[:n])


def log_js_axis(ax: Any, axis: str = "y", floor: float = JS_FLOOR) -> None:
    """A log JS axis starting at ``floor`` (plot values clipped to it), said in the axis label."""
    getattr(ax, f"set_{axis}scale")("log")
    if axis == "y":
        ax.set_ylim(bottom=floor)
    else:
        ax.set_xlim(left=floor)
    label = getattr(ax, f"get_{axis}label")()
    getattr(ax, f"set_{axis}label")(f"{label}\nlog; < {floor:g} drawn at {floor:g}")


def save_figure(fig: Figure, pdf: str | Path, png: str | Path, dpi: int = 150, title: str | None = None) -> None:
    """Write both formats atomically (deterministic PDF: no creation date) and close the figure; ``title``
    (the models and dataset drawn) goes above every panel."""
    if title:
        fig.suptitle(title, fontsize=8, wrap=True)
    fig.tight_layout()
    for path, kw in ((pdf, {"metadata": {"CreationDate": None}}), (png, {"dpi": dpi, "metadata": {"Software": None}})):
        with atomic_file(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix[1:], **kw)
    plt.close(fig)
