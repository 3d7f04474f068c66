"""The core metadata of the pure-Python wheel, read from pyproject.toml and written as maturin
writes it, so that both kinds of wheel describe the same package.

scripts/check_wheels.sh compares this module's METADATA and entry_points.txt with maturin's
byte for byte. Requirement strings are copied verbatim (maturin normalizes them), so keep
them normalized in pyproject.toml (`numpy>=1.22`, not `numpy >= 1.22`).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

# What reading pyproject.toml needs beyond the standard library: the get_requires_* hooks
# ask for it, so it is imported only once the frontend has installed it.
TOML_REQUIREMENTS = [] if sys.version_info >= (3, 11) else ["tomli>=1.1"]

# The [project] keys written below. Any other key stops the build rather than being dropped
# from the pure-Python wheel's metadata without a word.
_WRITTEN_KEYS = {
    "name",
    "version",
    "description",
    "readme",
    "requires-python",
    "license",
    "license-files",
    "authors",
    "keywords",
    "classifiers",
    "urls",
    "dependencies",
    "optional-dependencies",
    "scripts",
}


class Project:
    """The [project] and [tool.maturin] tables of a source tree's pyproject.toml."""

    def __init__(self, root: Path) -> None:
        self.root = root
        if sys.version_info >= (3, 11):
            import tomllib
        else:
            import tomli as tomllib
        with open(root / "pyproject.toml", "rb") as f:
            pyproject = tomllib.load(f)
        self.table: dict[str, Any] = pyproject["project"]
        unwritten = sorted(set(self.table) - _WRITTEN_KEYS)
        if unwritten:
            raise ValueError(
                f"pyproject.toml: the pure-Python build does not write [project] "
                f"{', '.join(unwritten)}; teach build_backend/rnnrs_build/metadata.py"
            )
        # Metadata 2.4 (License-Expression) and a Markdown readme are what metadata() writes.
        if not isinstance(self.table["license"], str):
            raise ValueError("pyproject.toml: `license` must be an SPDX expression string")
        if not str(self.table["readme"]).endswith(".md"):
            raise ValueError("pyproject.toml: `readme` must name a Markdown (.md) file")
        maturin = pyproject["tool"]["maturin"]
        # python/ holds the package; rnnrs._core is the extension module inside it.
        self.python_source = root / maturin["python-source"]
        self.package = maturin["module-name"].split(".")[0]

    @property
    def wheel_name(self) -> str:
        """The distribution name as wheel file names spell it (PEP 427)."""
        return re.sub(r"[-_.]+", "_", self.table["name"]).lower()

    @property
    def version(self) -> str:
        return str(self.table["version"])

    @property
    def dist_info(self) -> str:
        return f"{self.wheel_name}-{self.version}.dist-info"

    def license_files(self) -> list[Path]:
        """The files matched by `license-files`, relative to the source tree (PEP 639)."""
        found = []
        for pattern in self.table.get("license-files", []):
            matches = sorted(self.root.glob(pattern))
            if not matches:
                raise FileNotFoundError(
                    f"pyproject.toml: license-files {pattern!r} matches nothing"
                )
            found += [m.relative_to(self.root) for m in matches]
        return found

    def metadata(self) -> str:
        """The METADATA file: core metadata 2.4 fields in maturin's order, then the readme."""
        t = self.table
        lines = ["Metadata-Version: 2.4", f"Name: {t['name']}", f"Version: {self.version}"]
        lines += [f"Classifier: {c}" for c in t.get("classifiers", [])]
        lines += [f"Requires-Dist: {r}" for r in t.get("dependencies", [])]
        # maturin writes the extras in alphabetical order.
        extras = dict(sorted(t.get("optional-dependencies", {}).items()))
        lines += [
            f"Requires-Dist: {_with_extra(r, extra)}"
            for extra, reqs in extras.items()
            for r in reqs
        ]
        lines += [f"Provides-Extra: {extra}" for extra in extras]
        lines += [f"License-File: {p.as_posix()}" for p in self.license_files()]
        lines.append(f"Summary: {t['description']}")
        if "keywords" in t:
            lines.append(f"Keywords: {','.join(t['keywords'])}")
        authors = t.get("authors", [])
        names = [a["name"] for a in authors if "email" not in a]
        emails = [
            f"{a['name']} <{a['email']}>" if "name" in a else a["email"]
            for a in authors
            if "email" in a
        ]
        if names:
            lines.append(f"Author: {', '.join(names)}")
        if emails:
            lines.append(f"Author-email: {', '.join(emails)}")
        lines.append(f"License-Expression: {t['license']}")
        if "requires-python" in t:
            lines.append(f"Requires-Python: {t['requires-python']}")
        lines.append("Description-Content-Type: text/markdown; charset=UTF-8; variant=GFM")
        lines += [
            f"Project-URL: {label}, {url}" for label, url in sorted(t.get("urls", {}).items())
        ]
        readme: str = (self.root / t["readme"]).read_text(encoding="utf-8")
        return "\n".join(lines) + "\n\n" + readme + "\n"

    def entry_points(self) -> str:
        """entry_points.txt: the console scripts."""
        scripts = self.table["scripts"]
        return "[console_scripts]\n" + "".join(f"{n}={target}\n" for n, target in scripts.items())


def _with_extra(requirement: str, extra: str) -> str:
    """An optional dependency as a Requires-Dist value: the extra becomes its marker."""
    if ";" in requirement:
        # maturin rewrites markers (python_version -> python_full_version, ...): not mirrored.
        raise ValueError(
            f"pyproject.toml: the pure-Python build cannot write the marker in "
            f"optional dependency {requirement!r}"
        )
    return f"{requirement} ; extra == '{extra}'"
