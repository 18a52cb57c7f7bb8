"""The figure registry: names, determinism, the pages' references, the command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from atlas.cli import main
from atlas.figures import all_figures, render, select
from atlas.figures.registry import figure

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"figures/([A-Za-z0-9_-]+)\.svg")


def test_every_figure_a_page_references_is_registered():
    figures = all_figures()
    referenced = {}
    for page in (ROOT / "docs").rglob("*.md"):
        for name in REFERENCE.findall(page.read_text()):
            referenced.setdefault(name, []).append(page.relative_to(ROOT).as_posix())
    unknown = {name: pages for name, pages in referenced.items() if name not in figures}
    assert not unknown, f"pages reference figures that no module registers: {unknown}"
    unused = sorted(set(figures) - set(referenced))
    assert not unused, f"registered figures that no page shows: {unused}"


def test_registry_refuses_a_second_figure_of_the_same_name():
    with pytest.raises(ValueError, match="two figures are named 'activations'"):
        figure("activations", "again")(lambda: None)


def test_select_names_the_known_figures_when_one_is_unknown():
    with pytest.raises(KeyError, match="no figure named 'nope'.*known figures: .*activations"):
        select(["nope"])


@pytest.mark.parametrize("name", ["activations", "learning-rate", "init-activations"])
def test_rendering_twice_writes_the_same_bytes(tmp_path, name):
    spec = select([name])[0]
    first = render(spec, tmp_path / "a").read_bytes()
    second = render(spec, tmp_path / "b").read_bytes()
    assert first.startswith(b"<?xml") and b"<svg" in first
    assert first == second
    assert (tmp_path / "a" / f"{name}.svg").stat().st_mode & 0o044  # readable by a web server


def test_cli_lists_draws_and_skips_existing(tmp_path, capsys):
    assert main(["figures", "--list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in all_figures())
    out = tmp_path / "figs"
    assert main(["figures", "--only", "divergences", "--out", str(out), "--no-progress"]) == 0
    written = out / "divergences.svg"
    assert written.exists()
    stamp = written.stat().st_mtime_ns
    assert main(["figures", "--only", "divergences", "--missing", "--out", str(out),
                 "--no-progress"]) == 0
    assert written.stat().st_mtime_ns == stamp
    assert "wrote 0 figure(s)" in capsys.readouterr().out


def test_cli_rejects_an_unknown_figure(capsys):
    assert main(["figures", "--only", "no-such-figure"]) == 2
    assert "no figure named 'no-such-figure'" in capsys.readouterr().err


def test_figures_that_train_are_the_same_bytes_in_two_fresh_processes(tmp_path):
    """The character model behind these figures trains for a number of steps, not for a
    wall-clock budget, so a second machine (or a busier one) draws the same bytes. Each
    process trains its own model (quick recipe) into its own folder."""
    import os
    import subprocess
    import sys

    names = ["char-samples", "lstm-gates"]
    env = {**os.environ, "ATLAS_QUICK_FIGURES": "1"}
    for run in ("a", "b"):
        subprocess.run([sys.executable, "-m", "atlas.cli", "figures", "--only", *names,
                        "--out", str(tmp_path / run), "--no-progress"], check=True, env=env,
                       cwd=ROOT, timeout=900, capture_output=True)
    for name in names:
        first = (tmp_path / "a" / f"{name}.svg").read_bytes()
        assert first == (tmp_path / "b" / f"{name}.svg").read_bytes(), name
