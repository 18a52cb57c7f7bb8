"""MkDocs hook: publish the figures that ``atlas figures`` wrote to ``figures/`` (to
``build/quick-figures/`` with ``ATLAS_QUICK_FIGURES=1``).

The pages reference ``figures/<name>.svg`` (relative to the docs folder); this hook adds
every registered figure found in the figures folder to the site under that path. A registered
figure that has not been drawn yet is a warning (an error with ``--strict``) that says
which command draws it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mkdocs.structure.files import File

from atlas.figures import all_figures
from atlas.figures.registry import DEFAULT_OUT

log = logging.getLogger("mkdocs.hooks.figures")
FIGURES_DIR = Path(__file__).parent / DEFAULT_OUT


def on_files(files, config):
    for spec in all_figures().values():
        path = FIGURES_DIR / spec.filename()
        if not path.exists():
            log.warning(f"figure {spec.name!r} is missing from {FIGURES_DIR}: "
                        f"run `atlas figures --missing` first")
            continue
        files.append(File.generated(config, f"figures/{spec.filename()}", abs_src_path=str(path)))
    return files
