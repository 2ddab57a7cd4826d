"""Packaging: everything is configured in pyproject.toml; this file only adds one build step.

A wheel carries the built SDK bundle (``build/sdk``, made by ``python build.py``) as package data
of ``openproctor.server`` (``openproctor/server/bundle/``), so an operator who installs the wheel
needs neither Node nor npm to serve the SDK. Building a wheel without a bundle is an error that
says what to run; an editable install (development) skips the step and serves ``build/sdk``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.errors import SetupError

BUNDLE = Path(__file__).resolve().parent / "build" / "sdk"
PACKAGED = Path("openproctor") / "server" / "bundle"


class BuildPyWithBundle(build_py):
    def run(self) -> None:
        if not self.editable_mode:  # a module deleted from the source must not live on here
            shutil.rmtree(Path(self.build_lib) / "openproctor", ignore_errors=True)
        super().run()
        if self.editable_mode:
            return
        if not (BUNDLE / "manifest.json").is_file():
            raise SetupError(
                f"the SDK bundle is not built in {BUNDLE}: run `python build.py` (or `./dev demo`) "
                "before building the wheel"
            )
        target = Path(self.build_lib) / PACKAGED
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(BUNDLE, target)


setup(cmdclass={"build_py": BuildPyWithBundle})
