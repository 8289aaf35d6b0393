"""The README's gallery: a finished run's key figures shrunk to small PNGs under docs/gallery.

The full-size figures (PDF and PNG) stay in the run folder and in the report; the gallery only
has to show a stranger what the default run finds, so each picture is cut to a fixed width and a
256-colour palette, some tens of kilobytes each, small enough to check in.

``python -m tokenshift.figures.gallery results/organism docs/gallery`` (or ``make gallery``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from tokenshift.files.atomic import atomic_file

# File stems in <run>/figures, in the order the README shows them.
GALLERY: tuple[str, ...] = ("fig01_js_percentiles", "fig02_js_by_position", "crosssample_accuracy_rl_eval",
                            "fig07_topk_overlap", "fig29_training_evolution", "training_curves")


def shrink(src: Path, dst: Path, width: int = 800, colors: int = 256) -> None:
    """Write ``src`` scaled to ``width`` pixels (aspect kept, never enlarged) with a ``colors`` palette."""
    with Image.open(src) as image:
        image = image.convert("RGB")
        if image.width > width:
            image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
        with atomic_file(dst) as tmp:
            image.quantize(colors=colors).save(tmp, format="PNG", optimize=True)


def build(run: Path, out: Path, width: int = 800) -> list[Path]:
    """Shrink every gallery figure of ``run``; a missing one is an error naming it."""
    missing = [stem for stem in GALLERY if not (run / "figures" / f"{stem}.png").exists()]
    if missing:
        raise FileNotFoundError(f"{run / 'figures'} lacks {', '.join(missing)}: run the pipeline first")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem in GALLERY:
        shrink(run / "figures" / f"{stem}.png", out / f"{stem}.png", width)
        written.append(out / f"{stem}.png")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run folder, e.g. results/organism")
    parser.add_argument("out", type=Path, help="where the small PNGs go, e.g. docs/gallery")
    parser.add_argument("--width", type=int, default=800)
    args = parser.parse_args(argv)
    for path in build(args.run, args.out, args.width):
        print(f"{path} {path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
