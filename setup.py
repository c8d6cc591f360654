"""Builds cli.py, at the top of the repository, into the wheel as cycle/cli.py (see [tool.setuptools] in
pyproject.toml, which holds everything else): setuptools maps packages to folders, not single modules."""

from __future__ import annotations

import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

CLI = "cycle.cli"  # listed among the packages, with package-dir "cli": an editable install maps it to cli.py


class BuildPy(build_py):  # type: ignore[misc]
    def run(self) -> None:
        # setuptools ships whatever is in build/lib, and a build/ left from an earlier build (of an older layout,
        # say, with cli.py or notifications/ at the top) would put its files in the wheel too.
        if not getattr(self, "editable_mode", False):
            shutil.rmtree(self.build_lib, ignore_errors=True)
        super().run()

    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        if package == CLI:
            return [("cycle", "cli", "cli.py")]
        return list(super().find_package_modules(package, package_dir))

    def build_packages(self) -> None:
        # as build_py does, but a module's package may differ from the entry it is listed under (cycle.cli)
        for package in self.packages:
            for package_, module, module_file in self.find_package_modules(package, self.get_package_dir(package)):
                self.build_module(module, module_file, package_)


setup(cmdclass={"build_py": BuildPy})
