"""The textbook's executed blocks: each shows something on its page, and nothing it prints is
lost to the build log (a library function printing with the real ``print`` bypasses
markdown-exec's capture, as ``model.summary()`` did)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.run_pages import ROOT, executed_blocks


@pytest.fixture(scope="module")
def report():
    """Every page's blocks run in one fresh process, with the quick figure recipes (models
    trained for the pages come from ``build/quick-figures/models``, drawn by `make test`)."""
    env = {**os.environ, "ATLAS_QUICK_FIGURES": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-m", "tests.run_pages"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def test_the_runner_finds_the_blocks_of_every_page():
    assert len(executed_blocks(ROOT / "docs" / "models" / "cnn.md")) >= 4


def test_every_block_shows_output_on_its_page(report):
    empty = [f"{page} block {i + 1}:\n{block['code']}" for page, blocks in report.items()
             for i, block in enumerate(blocks) if not block["shown"].strip()]
    assert not empty, "blocks that show nothing:\n" + "\n".join(empty)


def test_no_block_prints_past_the_page(report):
    lost = [f"{page} block {i + 1} printed to the build log:\n{block['lost'][:300]}"
            for page, blocks in report.items() for i, block in enumerate(blocks)
            if block["lost"].strip()]
    assert not lost, "\n".join(lost)


def test_the_cnn_page_shows_vgg16_parameter_count(report):
    shown = "".join(block["shown"] for block in report["docs/models/cnn.md"])
    assert "Total params: 138,357,544" in shown  # VGG-16 with 1000 classes, as published
