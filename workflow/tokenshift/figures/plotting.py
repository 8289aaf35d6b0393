"""Figure conventions shared by every plot: seaborn style, PDF + PNG written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tokenshift.files.atomic import atomic_file  # noqa: E402


def new_figure(width: float = 5.0, height: float = 3.5, **kwargs: Any) -> tuple[Figure, Any]:
    """A (fig, ax) pair in the project's style."""
    sns.set_theme(style="whitegrid", context="paper")
    return plt.subplots(figsize=(width, height), **kwargs)


def save_figure(fig: Figure, pdf: str | Path, png: str | Path, dpi: int = 150) -> None:
    """Write both formats atomically (deterministic PDF: no creation date) and close the figure."""
    fig.tight_layout()
    for path, kw in ((pdf, {"metadata": {"CreationDate": None}}), (png, {"dpi": dpi, "metadata": {"Software": None}})):
        with atomic_file(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix[1:], **kw)
    plt.close(fig)
