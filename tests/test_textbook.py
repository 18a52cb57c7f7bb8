"""The helpers the pages' executed blocks use."""

from pathlib import Path

from atlas.kernels.cpu.dense import dense_forward
from atlas.textbook import markdown_table, source_block, source_of


def test_source_block_shows_the_kernels_own_source_and_where_it_lives():
    block = source_block(dense_forward)
    source, path, first = source_of(dense_forward)
    assert path == "atlas/kernels/cpu/dense.py"
    assert block.startswith(f'```python title="atlas/kernels/cpu/dense.py, lines {first}-')
    assert "def dense_forward(x, W, b, y):" in block and block.rstrip().endswith("```")
    lines = (Path(__file__).resolve().parents[1] / path).read_text().splitlines()
    assert lines[first - 1] == source.splitlines()[0]


def test_markdown_table_aligns_columns():
    table = markdown_table(("a", "b"), [(1, 2.5)])
    assert table.splitlines() == ["| a | b |", "| :-- | --: |", "| 1 | 2.5 |"]
