"""The tests' copy of the simulator's block manager (`tests/cudasim.py`) is the simulator's
own method with one line added, and is the one in use; the simulator runs a grid's blocks
in a shuffled order."""

import inspect
import textwrap

import numpy as np
from numba import cuda

from tests import cudasim


def _code_lines(function):
    """The function's lines of code: no docstring, comment-only line or blank line."""
    source = textwrap.dedent(inspect.getsource(function))
    body = source.split('"""')[2] if '"""' in source else source
    lines = [line.split("  #")[0].rstrip() for line in body.splitlines()]
    return [line for line in lines if line.strip() and not line.strip().startswith("#")]


def _without(lines, dropped):
    return [line for line in lines if line.strip() not in dropped]


def test_the_block_manager_in_use_is_the_copy_without_the_busy_wait():
    from numba.cuda.simulator.kernel import BlockManager

    assert BlockManager.run is cudasim.run
    assert cudasim.REPLACED is not None


def test_the_copy_is_the_simulators_method_with_the_one_sleep_added():
    ours, theirs = _code_lines(cudasim.run), _code_lines(cudasim.REPLACED)
    added = {"from numba.cuda.simulator.kernel import BlockThread", "time.sleep(0)"}
    assert added <= {line.strip() for line in ours}
    assert theirs[0].startswith("def run(")
    assert _without(ours, added) == theirs[1:]  # line for line, indentation included


def test_the_simulator_runs_a_grids_blocks_in_a_shuffled_order():
    """Each of 64 one-thread blocks takes a ticket as it runs: every ticket is taken once,
    not in the order of the blocks, and the next launch's order is another."""
    @cuda.jit
    def take_tickets(counter, tickets):
        tickets[cuda.blockIdx.x] = cuda.atomic.add(counter, 0, 1)

    orders = []
    for _ in range(2):
        counter, tickets = cuda.to_device(np.zeros(1, np.int64)), cuda.device_array(64, np.int64)
        take_tickets[64, 1](counter, tickets)
        orders.append(tickets.copy_to_host())
    for order in orders:
        assert sorted(order) == list(range(64))
        assert list(order) != list(range(64))
    assert list(orders[0]) != list(orders[1])
