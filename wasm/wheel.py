"""The core's wheel: a pure-Python py3-none-any wheel that holds only openproctor/core."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from openproctor.core import SDK_VERSION

from .fetch import BuildError

CORE = Path(__file__).resolve().parent.parent / "core"

PYPROJECT = f"""[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "openproctor-core"
version = "{SDK_VERSION}"
description = "openproctor's event model, scoring and signed chain (standard library only)"
requires-python = ">=3.11"

[tool.setuptools]
packages = ["openproctor.core"]
package-dir = {{"" = "src"}}
"""


def copy_core(dest: Path) -> Path:
    """Copy the core's sources into ``dest/openproctor/core``; return ``dest``."""
    target = dest / "openproctor" / "core"
    target.mkdir(parents=True)
    for source in sorted(CORE.glob("*.py")):
        shutil.copy2(source, target / source.name)
    return dest


def build_wheel(out_dir: Path) -> Path:
    """Build the wheel with pip (setuptools backend) into ``out_dir``."""
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "pyproject.toml").write_text(PYPROJECT)
        copy_core(project / "src")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--disable-pip-version-check",
                "-q",
                "-w",
                str(out_dir),
                str(project),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BuildError(f"building the core wheel failed:\n{done.stderr.strip()}")
    wheels = sorted(out_dir.glob("openproctor_core-*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one core wheel in {out_dir}, found {len(wheels)}")
    return wheels[0]
