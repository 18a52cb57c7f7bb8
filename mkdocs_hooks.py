"""MkDocs hook: publish the figures that ``atlas figures`` wrote to ``figures/``.

The pages reference ``figures/<name>.svg`` (relative to the docs folder); this hook adds
every registered figure found in ``figures/`` to the site under that path. A registered
figure that has not been drawn yet is a warning (an error with ``--strict``) that says
which command draws it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mkdocs.structure.files import File

from atlas.figures import all_figures

log = logging.getLogger("mkdocs.hooks.figures")
FIGURES_DIR = Path(__file__).parent / "figures"


def on_files(files, config):
    for spec in all_figures().values():
        path = FIGURES_DIR / spec.filename()
        if not path.exists():
            log.warning(f"figure {spec.name!r} is missing from {FIGURES_DIR}: "
                        f"run `atlas figures --missing` first")
            continue
        files.append(File(f"figures/{spec.filename()}", src_dir=str(FIGURES_DIR.parent),
                          dest_dir=config["site_dir"], use_directory_urls=False))
    return files
