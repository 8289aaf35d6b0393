"""The package works as a wheel, not only from an editable checkout: built, installed into a fresh venv and run
from outside the repository, it finds its schema (package data) and validates a config."""

from __future__ import annotations

import site
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_wheel_installs_and_runs_outside_the_repository(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(wheels), str(ROOT)], check=True, capture_output=True)
    wheel = next(wheels.glob("tokenshift-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The dependencies come from this environment's site-packages as a plain path entry (its editable
    # tokenshift is a .pth hook there, which a path entry does not run), so only the wheel provides tokenshift.
    packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                   check=True, capture_output=True, text=True).stdout.strip())
    (packages / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()

    where = subprocess.run([str(python), "-c", "import tokenshift; print(tokenshift.__file__)"], cwd=outside,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(venv), where
    help_text = subprocess.run([str(venv / "bin" / "tokenshift"), "--help"], cwd=outside, check=True,
                               capture_output=True, text=True).stdout
    assert "dump" in help_text and "crosssample" in help_text
    check = ("from tokenshift.pipeline.config import SCHEMA_PATH, validate_config\n"
             "cfg = validate_config({'name': 'mini'})\n"
             "print(SCHEMA_PATH, cfg['crosssample']['eps'])\n")
    out = subprocess.run([str(python), "-c", check], cwd=outside, check=True, capture_output=True, text=True).stdout
    assert Path(out.split()[0]).is_relative_to(venv) and out.split()[0].endswith("schema.yaml")
    bad = subprocess.run([str(python), "-c", "from tokenshift.pipeline.config import validate_config\n"
                          "validate_config({'name': 'x', 'crosssample': {'epss': [1]}})"], cwd=outside,
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "config key 'crosssample.epss' is not allowed" in bad.stderr
