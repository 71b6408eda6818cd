"""The wheel works on its own: built with `python -m build`, installed without the source tree,
`visionbench bench --suite smoke` runs and writes its report (templates are package data).

Cheap by design: the fresh virtual environment sees the project environment's packages (torch,
timm, ...) through a path file, and the wheel is installed with --no-deps, so nothing is
downloaded or rebuilt; the source tree is not on its path, so a file left out of the wheel fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
build = pytest.importorskip("build", reason="the wheel check needs the `build` package ([dev])")


def _run(cmd: list, cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_wheel_runs_the_smoke_suite_from_a_fresh_venv(tmp_path):
    src = tmp_path / "src_copy"  # build from a copy: the working tree gets no build/ or egg-info
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "runs", "build", "dist", "*.egg-info", "__pycache__"
        ),
    )
    _run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp_path / "dist"],
        src,
    )
    (wheel,) = (tmp_path / "dist").glob("visionbench-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "visionbench/bench/templates/report.html.j2" in names
    assert "visionbench/bench/templates/report.js" in names  # the interactive part
    assert not any(n.startswith("tests/") for n in names)
    for extra in ("onnx", "tracking", "dev"):
        assert f"Provides-Extra: {extra}" in meta
    assert "tensorboard" not in [
        line.split()[1]
        for line in meta.splitlines()
        if line.startswith("Requires-Dist:") and ";" not in line
    ]  # a plain install stays lean

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path)
    py = venv / "bin" / "python"
    site = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path)
    # the project environment's packages, as a plain path: its own .pth files (an editable
    # visionbench among them) are not processed, so only the wheel provides visionbench
    (Path(site.strip()) / "project_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            py,
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            wheel,
        ],
        tmp_path,
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = _run([py, "-c", "import visionbench; print(visionbench.__file__)"], tmp_path, env)
    assert where.startswith(str(venv)), where
    _run(
        [venv / "bin" / "visionbench", "bench", "--suite", "smoke", "--out", tmp_path / "runs"],
        tmp_path,
        env | {"OMP_NUM_THREADS": "1"},
    )
    report = tmp_path / "runs" / "smoke" / "report.html"
    assert report.exists() and "Table 1 of the review" in report.read_text()
