"""The wheel: built from the repository, installed into a fresh virtual environment, run from
outside the clone (`tracktune model-info lorat_b224_rgbt`, `tracktune demo`).

What CI can afford: a fresh venv that also downloads and installs torch and the other
dependencies costs minutes and the network; this test instead gives the fresh venv the
running interpreter's site-packages for the *dependencies* (one `.pth` line per directory:
listed directories are put on `sys.path` without processing their own `.pth` files, so the
clone's editable install of tracktune stays invisible) and installs tracktune itself only
from the wheel (`pip install --no-deps --no-index`). It then checks that the installed
`tracktune` is the wheel's copy inside the fresh venv, that every declared dependency
resolves there, and that the shipped configs came with it. The demo runs with
`--pretrain-steps 20 --adapt-steps 5` on micro data (`--recipe`, `MICRO_RECIPE`): its default
data alone cost more than 7 CPU minutes on the 2-core machine we measured, beyond what CI
affords. Set `TRACKTUNE_WHEEL_TEST_FULL=1` to let pip resolve and install every dependency
into the fresh venv and to run the demo at its default size (slow: many minutes; needs the
package index).

The build runs on a copy of the sources (pyproject.toml, README.md, src/) so that setuptools'
in-tree `build/` and `*.egg-info` never land in the clone.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the demo's recipe at a micro scale (tests/test_demo.py's sizes): what CI affords
MICRO_RECIPE = ("frame_size=[96, 72]", "frames=6", "pretrain_sequences=3", "target_sequences=6", "test_sequences=2",
                "conditions=[clean, night]", "embed_dim=32", "depth=2", "num_heads=2", "batch_size=4", "lora_rank=2")
CONFIGS = REPO / "src" / "tracktune" / "configs"


def _run(command, cwd, env, timeout=600):
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _clean_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # the demo's data and RGB tracker: fresh, ours
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def build_wheel(tmp_path: Path, env: dict) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build"))
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, source],
         tmp_path, env)
    wheels = list(dist.glob("tracktune-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def make_venv(tmp_path: Path, full: bool) -> Path:
    """A fresh venv of the base interpreter; unless `full`, the running one's site-packages as
    plain path entries for the dependencies."""
    root = tmp_path / "venv"
    venv.EnvBuilder(with_pip=full, symlinks=os.name != "nt").create(root)
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not full:
        purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path,
                       dict(os.environ, PYTHONPATH=""))
        deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
        Path(purelib.strip(), "_tracktune_test_deps.pth").write_text("".join(f"{p}\n" for p in deps))
    return python


def test_wheel_installs_into_a_fresh_venv_and_runs_outside_the_clone(tmp_path):
    full = os.environ.get("TRACKTUNE_WHEEL_TEST_FULL") == "1"
    env = _clean_env(tmp_path)
    wheel = build_wheel(tmp_path, env)

    # the shipped configs are in the wheel (hand listing of the package's configs folder)
    with zipfile.ZipFile(wheel) as archive:
        packed = sorted(Path(n).name for n in archive.namelist() if n.startswith("tracktune/configs/"))
    assert packed == sorted(p.name for p in CONFIGS.glob("*.yaml")) and packed

    python = make_venv(tmp_path, full)
    install = [python, "-m", "pip", "install", "-q", wheel] if full else \
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel]
    _run(install, tmp_path, env)
    bin_dir = python.parent
    outside = tmp_path / "elsewhere"
    outside.mkdir()

    # tracktune is the wheel's copy in the fresh venv, and every declared dependency resolves
    check = ("import importlib.metadata as m, re, tracktune;"
             "print(tracktune.__file__);"
             "reqs = [r for r in m.requires('tracktune') if 'extra ==' not in r];"
             "[m.version(re.split('[ <>=!~;\\\\[]', r)[0]) for r in reqs];"
             "print(len(reqs))")
    lines = _run([python, "-c", check], outside, env).split()
    assert Path(lines[0]).resolve().is_relative_to(tmp_path / "venv"), lines[0]
    assert int(lines[1]) >= 8

    out = _run([bin_dir / "tracktune", "configs"], outside, env)
    assert len(out.splitlines()) == len(packed)
    out = _run([bin_dir / "tracktune", "model-info", "lorat_b224_rgbt"], outside, env)
    assert "lorat_b224_rgbt" in out and "GFLOPs" in out
    demo = [bin_dir / "tracktune", "demo", "--pretrain-steps", "20", "--adapt-steps", "5", "--no-progress"]
    if not full:  # the demo's default data take minutes of CPU: the same flow on micro data
        demo += [f"--recipe={item}" for item in MICRO_RECIPE]
    _run(demo, outside, env, timeout=3600)
    assert (outside / "runs" / "demo" / "summary.json").is_file()
