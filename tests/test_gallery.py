"""The README gallery: a run's key figures shrunk to small PNGs."""

import pytest
from PIL import Image
from tokenshift.figures.gallery import GALLERY, build, shrink


def test_shrink_keeps_aspect_and_never_enlarges(tmp_path):
    Image.new("RGB", (1500, 600), "white").save(tmp_path / "wide.png")
    Image.new("RGB", (300, 200), "white").save(tmp_path / "small.png")
    shrink(tmp_path / "wide.png", tmp_path / "a.png", width=500)
    shrink(tmp_path / "small.png", tmp_path / "b.png", width=500)
    assert Image.open(tmp_path / "a.png").size == (500, 200)
    assert Image.open(tmp_path / "b.png").size == (300, 200)


def test_gallery_of_the_ci_run_is_small(ci_run, tmp_path):
    written = build(ci_run, tmp_path, width=800)
    assert [p.stem for p in written] == list(GALLERY)
    for path in written:
        with Image.open(path) as image:
            assert image.width <= 800
        assert path.stat().st_size < 150_000, path


def test_gallery_names_the_missing_figures(tmp_path):
    with pytest.raises(FileNotFoundError, match="fig01_js_percentiles"):
        build(tmp_path, tmp_path / "out")
