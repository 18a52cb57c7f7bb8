"""Compile every ``@cuda.jit`` kernel of atlas for a real GPU (compute capability 9.0),
without one. Run as a script, outside the simulator: ``python tests/kernels/ptx_check.py``.

With ``--resources`` each kernel's PTX is also assembled to machine code for sm_90 by
``ptxas`` (from the ``nvcc`` part of the ``cuda-toolkit`` wheels: the same release as the
NVVM that wrote the PTX), and a table says what a multiprocessor of an H100 / H200 gives
it: registers a thread, shared memory a block, blocks and warps resident at once. A
kernel with a stack frame or spilled registers (values kept in local memory, which is
off-chip: a register-blocked product's accumulators that did not fit) fails the check, and
so does a float32 register-blocked product whose steps along the sum are not unrolled or
are less than 80% multiply-adds, or that takes so many registers that fewer than three of
its blocks fit on a multiprocessor.
For the matrix products (float32) it also reads the machine code (``nvdisasm``) and gives
the share of fused multiply-adds in two loops: the innermost one (steps along the sum
within a tile: the rest is shared-memory loads, address arithmetic and the loop's own
counting) and the loop over the tiles (with the staging of each tile from global memory).
Instructions are counted as written, not as run: a branch taken once a tile counts as
much as the multiply-adds.

The simulator accepts things a GPU rejects (plain Python in kernels, any block size), so
CI also compiles each kernel to PTX. numba-cuda asks the current device for its compute
capability when it compiles a device function that a kernel calls; with no GPU there is
none, so this script answers for it (9.0, an H100). Every kernel found in the modules must
be listed in ``SIGNATURES``: a new kernel without one fails the check. The kernels
compile in a pool of processes, one a core (forked: each reads what `main` found).
"""

import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ["NUMBA_ENABLE_CUDASIM"] = "0"

import numba.cuda.dispatcher as dispatcher  # noqa: E402
import numpy as np  # noqa: E402
from numba import cuda, types  # noqa: E402


class _Hopper:
    compute_capability = (9, 0)


dispatcher.get_current_device = lambda: _Hopper()

import atlas.kernels.cuda.activations as activations  # noqa: E402
import atlas.kernels.cuda.batchnorm as batchnorm  # noqa: E402
import atlas.kernels.cuda.conv as conv  # noqa: E402
import atlas.kernels.cuda.dense as dense  # noqa: E402
import atlas.kernels.cuda.dropout as dropout  # noqa: E402
import atlas.kernels.cuda.embedding as embedding  # noqa: E402
import atlas.kernels.cuda.gemm as gemm  # noqa: E402
import atlas.kernels.cuda.launch as launch  # noqa: E402
import atlas.kernels.cuda.losses as losses  # noqa: E402
import atlas.kernels.cuda.merge as merge  # noqa: E402
import atlas.kernels.cuda.optimizers as optimizers  # noqa: E402
import atlas.kernels.cuda.pooling as pooling  # noqa: E402
import atlas.kernels.cuda.recurrent as recurrent  # noqa: E402
import atlas.kernels.cuda.reduce as reduce  # noqa: E402
from atlas.kernels.scalar import ACTIVATION_CODES  # noqa: E402

MODULES = (activations, batchnorm, conv, dense, dropout, embedding, gemm, launch, losses,
           merge, optimizers, pooling, recurrent, reduce)


def signatures(f):
    """Argument types of every kernel for one float type ``f``."""
    v, m, t3 = f[::1], f[:, ::1], f[:, :, ::1]
    t4, t6 = f[:, :, :, ::1], f[:, :, :, :, :, ::1]
    i64, b, acc = types.int64, types.boolean, types.float64[::1]
    pair, idx4 = types.UniTuple(types.int64, 2), types.int64[:, :, :, ::1]
    acc3, i32 = types.float64[:, :, ::1], types.int32[::1]
    loss_sums = (types.float64[:, ::1], i32, acc)  # partial, counter, acc
    return {
        **product_signatures(f),
        "_im2col": (t4, pair, pair, pair, t6),
        "_col2im": (t6, pair, pair, pair, t4),
        "_channel_sums": (t3, types.float64[:, ::1], i32, v),
        "fill": (v, f),
        "_add_scaled": (acc, acc, types.float64),
        "_maxpool2d_forward": (t4, pair, pair, pair, t4, idx4),
        "_maxpool2d_backward": (t4, idx4, pair, pair, pair, i64, types.float64, t4, t4, t4),
        "_avgpool2d_forward": (t4, pair, pair, pair, b, t4),
        "_avgpool2d_backward": (t4, pair, pair, pair, b, i64, types.float64, t4, t4, t4),
        "_global_avgpool_forward": (t3, m),
        "_global_avgpool_backward": (m, t3),
        "_activation_forward": (v, i64, f, v),
        "_activation_backward": (v, v, v, i64, f, v),
        "_prelu_forward": (t3, v, t3),
        "_prelu_backward": (t3, v, t3, t3, v),
        "_softmax_forward": (m, m),
        "_softmax_backward": (m, m, m),
        "_statistics": (t3, acc3, i32, f, f, v, v, acc, v),
        "_normalize": (t3, v, v, acc, v, t3, t3),
        "_batchnorm_eval_forward": (t3, v, v, v, v, f, t3),
        "_gradient_sums": (t3, t3, acc3, i32, v, v),
        "_input_gradient": (t3, t3, v, v, v, v, t3),
        "_column_sums": (m, v),
        "_dropout_forward": (v, v, f, v, v),
        "_dropout_backward": (v, v, i64, types.float64, v, v, v),
        "_random_uniform": (i64, v),
        "_add": (v, v, v),
        "_multiply": (v, v, v),
        "_copy_columns": (m, m, i64),
        "_take_columns": (m, i64, m),
        "_softmax_cross_entropy": (m, types.int64[::1], m, *loss_sums),
        "_softmax_cross_entropy_soft": (m, m, m, *loss_sums),
        "_sigmoid_binary_cross_entropy": (v, v, f, v, *loss_sums),
        "_binary_cross_entropy": (v, v, f, v, *loss_sums),
        "_squared_error": (v, v, f, v, *loss_sums),
        "_absolute_error": (v, v, f, v, *loss_sums),
        "_huber": (v, v, f, f, v, *loss_sums),
        "_kl_divergence": (v, v, f, v, *loss_sums),
        "_js_divergence": (v, v, f, v, *loss_sums),
        "_count_correct": (m, types.int64[::1], acc),
        "_sgd_step": (v, v, v, f, f, b, f),
        "_rmsprop_step": (v, v, v, f, f, f, f),
        "_adagrad_step": (v, v, v, f, f, f),
        "_adadelta_step": (v, v, v, v, f, f, f, f),
        "_adam_step": (v, v, v, v, f, f, f, f, f, b, f, f),
        "_squared_norm": (v, acc),
        "_clip_to_norm": (v, acc, f),
        "_scale": (v, f),
        "_embedding_forward": (types.int64[::1], m, m),
        "_embedding_backward": (types.int64[::1], m, m),
        "_swap_leading": (t3, t3),
        "_copy_states": (t3, m, t3, m),
        "_transpose": (m, m),
        "_state_gradient": (t3, m, b, m),
        "_rnn_step": (t3, t3, i64, m, v, t3),
        "_rnn_step_backward": (t3, i64, t3, t3, m, m),
        "_lstm_step": (t3, t3, t3, i64, m, v, t3),
        "_lstm_step_backward": (t3, i64, t3, t3, t3, m, m, m),
        "_gru_step": (t3, t3, t3, i64, m, v, t3),
        "_gru_step_backward": (t3, i64, t3, t3, t3, t3, t3, m, m),
    }


def product_signatures(f):
    """Argument types of the kernels of each `gemm.Product`: a `MATRIX` operand or output
    is a matrix, every other one an ``(N, C, H, W)`` or weight array."""
    m, t3, t4 = f[:, ::1], f[:, :, ::1], f[:, :, :, ::1]
    i64, b = types.int64, types.boolean
    sigs = {}
    matrices = (gemm.MATRIX, gemm.MATRIX_AND_ONES, gemm.MATRIX_OUT, gemm.MATRIX_AND_BIAS_ROW_OUT)
    for name, product in products(activated=True).items():
        ends = (*product.operands, product.epilogue)
        a, b_, c = [m if kind in matrices else t4 for kind in ends]
        epilogue = (f[::1], c, types.float64)  # bias, y (the activation or saved), alpha
        arguments = (a, b_, c, *epilogue, types.UniTuple(i64, 10), b, b, i64, i64, i64, i64, t3,
                     types.int32[::1])
        sigs[f"{name}.tiled"] = sigs[f"{name}.blocked"] = arguments
    return sigs


def products(activated=False):
    """The `gemm.Product` objects, by name; with ``activated``, also each product whose
    epilogue applies activations with each activation in it (``MATMUL[tanh]``, ...:
    `gemm.Product.activated`) and with each one's derivative (``MATMUL[tanh']``, ...:
    `gemm.Product.chained`), whose machine code differs only after the loop over tiles,
    so that only ``--resources`` checks them (compiling them takes longer than all the
    other kernels)."""
    found = {name: obj for name, obj in vars(gemm).items() if isinstance(obj, gemm.Product)}
    for name, product in list(found.items()):
        if activated and product.epilogue.activates:
            for act, code in ACTIVATION_CODES.items():
                found[f"{name}[{act}]"] = product.activated(code)
                found[f"{name}[{act}']"] = product.chained(code)
    return found


def kernels(activated=False):
    """Every ``@cuda.jit`` kernel (not device function) in the modules, by name (the
    products' with or without their ``activated`` variants: see `products`)."""
    found = {}
    for module in MODULES:
        for name, obj in vars(module).items():
            defined_here = getattr(getattr(obj, "py_func", None), "__module__", None) == \
                module.__name__  # not the shared scalar functions a module imports
            if defined_here and not getattr(obj, "targetoptions", {}).get("device"):
                found[name] = obj
    for name, product in products(activated).items():  # made by factories: one per float type
        found[f"{name}.tiled"], found[f"{name}.blocked"] = product.tiled, product.blocked
    return found


# Resources -------------------------------------------------------------------------------
#: A multiprocessor of compute capability 9.0: registers, threads, shared memory (bytes),
#: resident blocks, and the registers a warp is given at a time.
SM90 = {"registers": 65536, "threads": 2048, "shared": 228 * 1024, "blocks": 32,
        "register_unit": 256}
#: Shared memory the runtime keeps for each block on sm_90.
RESERVED_SHARED = 1024
#: Steps along the sum a register-blocked product's innermost loop must hold at least (it
#: holds 8 when NVVM unrolls it; a `for ... in range` loop there is never unrolled, see
#: `gemm._make_blocked`).
UNROLLED_STEPS = 4
#: Share of ``FFMA`` in that loop, at least (85%; 70% when it indexed the shared tiles
#: with signed integers, see `gemm._make_blocked`).
INNER_FFMA_SHARE = 0.8
#: Blocks of a float32 register-blocked product one multiprocessor must hold at least (it
#: holds three or four; two when its staging indexed the tiles with signed integers: 96-127
#: registers).
RESIDENT_BLOCKED = 3
#: The products whose loop over tiles may divide: `gemm.SPREAD`'s gather divides by the
#: stride when it is not 1. In every other product a thread decodes its indices before
#: that loop and advances them in it (`operands.Index`): 14-16 divisions a tile before.
DIVIDING = {name for name, product in products(activated=True).items() if gemm.SPREAD in product.operands}


def toolkit(program):
    """A program of the installed ``cuda-toolkit`` wheels (``ptxas``, ``nvdisasm``), else
    one on PATH."""
    import nvidia  # the wheels' namespace package

    for root in nvidia.__path__:
        for candidate in sorted(Path(root).glob(f"cu*/bin/{program}")):
            return str(candidate)
    return shutil.which(program)


def assemble(ptx, tool, cubin=os.devnull):
    """Assemble ``ptx`` for sm_90 (into ``cubin``) and return ``ptxas -v``'s numbers:
    registers, shared bytes, stack bytes, spilled bytes (stores + loads)."""
    result = subprocess.run([tool, "-v", "-arch=sm_90", "-", "-o", cubin], input=ptx,
                            capture_output=True, text=True, check=True)
    log = result.stderr

    def number(pattern):
        found = re.search(pattern, log)
        return int(found.group(1)) if found else 0

    return {"registers": number(r"Used (\d+) registers"),
            "shared": number(r"(\d+) bytes smem"),
            "stack": number(r"(\d+) bytes stack frame"),
            "spilled": number(r"(\d+) bytes spill stores") + number(r"(\d+) bytes spill loads")}


def loops(cubin, disassembler):
    """The nest of loops of a product's ``cubin`` that run its multiply-adds, as ``(FFMA,
    instructions, divisions)`` each (a division is a reciprocal, ``MUFU.RCP``, and
    twenty-odd instructions around it), innermost first: every backward branch closes a
    loop from its target to itself. The innermost is the loop with the largest share of
    ``FFMA`` (steps along the sum within a tile), the outermost the largest loop around it
    (the loop over the tiles, staging from global memory included); another loop that runs
    ``FFMA`` (the polynomial of an activation, applied to a thread's outputs after the
    tiles) is not in the nest."""
    sass = subprocess.run([disassembler, cubin], capture_output=True, text=True,
                          check=True).stdout
    labels, code, pending = {}, [], []
    for line in sass.splitlines():
        label = re.match(r"\s*(\.L_x_\d+):", line)
        if label:
            pending.append(label.group(1))
            continue
        instruction = re.search(r"/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)(.*)",
                                line)
        if instruction:
            labels.update((name, len(code)) for name in pending)
            pending = []
            code.append(instruction.groups())
    found = []
    for end, (opcode, operands) in enumerate(code):
        target = re.search(r"\((\.L_x_\d+)\)", operands) if opcode.startswith("BRA") else None
        if target and labels.get(target.group(1), end + 1) <= end:
            body = code[labels[target.group(1)]:end + 1]
            ffma = sum(1 for op, _ in body if op == "FFMA")
            if ffma:
                found.append((ffma, len(body), sum(1 for op, _ in body if op == "MUFU.RCP"),
                              labels[target.group(1)], end))
    if not found:
        return []
    inner = max(found, key=lambda loop: loop[0] / loop[1])
    nest = [loop for loop in found if loop[3] <= inner[3] and inner[4] <= loop[4]]
    return [loop[:3] for loop in sorted(nest, key=lambda loop: loop[1])]


def resident_blocks(registers, shared, threads):
    """Blocks of ``threads`` threads one sm_90 multiprocessor holds at once, and what
    limits them (registers are handed out per warp, in units of 256)."""
    warps = -(-threads // 32)
    unit = SM90["register_unit"]
    per_warp = -(-registers * 32 // unit) * unit
    limits = {"registers": SM90["registers"] // (per_warp * warps) if registers else SM90["blocks"],
              "threads": SM90["threads"] // threads,
              "shared": SM90["shared"] // (shared + RESERVED_SHARED),
              "blocks": SM90["blocks"]}
    limit = min(limits, key=limits.get)
    return limits[limit], limit


def block_threads(name):
    """Threads a block of kernel ``name`` is launched with: a product's tile, a sum per
    channel's or a loss's `launch.REDUCE_THREADS`, else `launch.THREADS` (a recurrent
    step's ``ROW x SLICES`` is as many)."""
    if name.endswith(".tiled"):
        return gemm.TILE * gemm.TILE
    if name.endswith(".blocked"):
        return gemm.BLOCKED_THREADS
    sums = ("_statistics", "_gradient_sums", "_channel_sums")
    if name in sums or (name in vars(losses) and name != "_count_correct"):
        return launch.REDUCE_THREADS
    return launch.THREADS


def main():
    check_resources = "--resources" in sys.argv[1:]
    tools = (toolkit("ptxas"), toolkit("nvdisasm")) if check_resources else None
    if tools and None in tools:
        print("FAIL --resources needs ptxas and nvdisasm: pip install "
              "'cuda-toolkit[nvcc,nvdisasm]'")
        return 1
    failures, rows = [], []
    found = kernels(activated=check_resources)
    sigs = {float_type: signatures(float_type) for float_type in FLOAT_TYPES}
    jobs = []
    for k, float_type in enumerate(FLOAT_TYPES):
        missing = sorted(set(found) - set(sigs[float_type]))
        if missing:
            failures.append(f"kernels with no signature in ptx_check.SIGNATURES: {missing}")
        jobs += [(k, name) for name in sorted(found) if name in sigs[float_type] and
                 (float_type in VARIANT_TYPES or "[" not in name)]
    with tempfile.TemporaryDirectory(prefix="atlas-ptx-") as scratch:
        _WORK.update(found=found, sigs=sigs, tools=tools, scratch=scratch)
        with multiprocessing.get_context("fork").Pool(len(os.sched_getaffinity(0))) as pool:
            for row, kernel_failures in pool.imap(_check, jobs):
                rows += [row] if row else []
                failures += kernel_failures
    variants = sum("[" in name for name in found)
    print(f"compiled {len(found) - variants} kernels x 2 float types and {variants} "
          f"activation variants x {len(VARIANT_TYPES)} to PTX for sm_90")
    if check_resources:
        print_resources(rows)
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


#: The float types every kernel is compiled for ...
FLOAT_TYPES = (types.float32, types.float64)
#: ... but the products' activation and derivative variants (``MATMUL[tanh]``, ...: with
#: ``--resources`` only) only in float32, the type a GPU trains in: their machine code
#: differs from the plain product's only after the loop over tiles, and the 108 of them
#: in float64 too took CI's check from 136 s to 316 s (two cores).
VARIANT_TYPES = (types.float32,)
#: What `main` gives the processes that compile (they are forked from it and read it).
_WORK = {}


def _check(job):
    """Compile one kernel for one float type (``job = (index into FLOAT_TYPES, name)``) in
    a process of `main`'s pool (a kernel's compile runs on one core: the pool runs one a
    core), and with ``--resources`` assemble it: ``(row of the table or None,
    failures)``."""
    float_type, name = FLOAT_TYPES[job[0]], job[1]
    kernel, failures, row = _WORK["found"][name], [], None
    if isinstance(kernel, dict):
        kernel = kernel[np.dtype(str(float_type))]
    try:
        ptx, _ = cuda.compile_ptx(kernel.py_func, _WORK["sigs"][float_type][name], cc=(9, 0))
        assert ".entry" in ptx
        if _WORK["tools"]:
            cubin = os.path.join(_WORK["scratch"], f"{os.getpid()}.cubin")
            used = resources(name, float_type, ptx, _WORK["tools"], cubin, failures)
            row = (name, str(float_type), used)
    except Exception as error:  # report every failure, not only the first
        failures.append(f"{name} [{float_type}]: {type(error).__name__}: {error}")
    return row, failures


def resources(name, float_type, ptx, tools, cubin, failures):
    """What kernel ``name`` uses once assembled (`assemble`; a product's float32 kernels
    also its `loops`), with a failure added for local memory, and for a float32
    register-blocked product whose inner loop is not unrolled or less than
    `INNER_FFMA_SHARE` multiply-adds, or that fewer than `RESIDENT_BLOCKED` blocks share
    a multiprocessor, and for a float32 product whose loop over tiles divides (see
    `DIVIDING`)."""
    tool, disassembler = tools
    used = assemble(ptx, tool, cubin)
    if "." in name and float_type == types.float32:  # a product's kernel
        used["loops"] = loops(cubin, disassembler)
    if used["stack"] or used["spilled"]:
        failures.append(f"{name} [{float_type}] keeps values in local memory: "
                        f"{used['stack']} bytes of stack, {used['spilled']} bytes spilled")
    resident, limit = resident_blocks(used["registers"], used["shared"], block_threads(name))
    if name.endswith(".blocked") and float_type == types.float32 and \
            resident < RESIDENT_BLOCKED:
        failures.append(f"{name} [{float_type}]: {used['registers']} registers, "
                        f"{resident} blocks a multiprocessor (limited by {limit}), fewer "
                        f"than {RESIDENT_BLOCKED}")
    if used.get("loops") and used["loops"][-1][2] and name.split(".")[0] not in DIVIDING:
        failures.append(f"{name} [{float_type}]: its loop over tiles divides "
                        f"({used['loops'][-1][2]} MUFU.RCP): an index decoded in the loop")
    unrolled = UNROLLED_STEPS * gemm.TM * gemm.TN
    if name.endswith(".blocked") and used.get("loops"):
        ffma, instructions, _ = used["loops"][0]
        if ffma < unrolled:
            failures.append(f"{name} [{float_type}]: its innermost loop runs {ffma} FFMA, "
                            f"fewer than {unrolled}: the steps along the sum are no longer "
                            f"unrolled")
        elif ffma < INNER_FFMA_SHARE * instructions:
            failures.append(f"{name} [{float_type}]: its innermost loop is {ffma} FFMA in "
                            f"{instructions} instructions, less than {INNER_FFMA_SHARE:.0%}")
    return used


def print_resources(rows):
    """The table of ``--resources``: one row per kernel and float type."""
    print(f"\n{'kernel':34} {'type':8} {'threads':>7} {'regs':>5} {'smem B':>7} {'stack':>5} "
          f"{'spill':>5} {'blocks/SM':>9} {'warps/SM':>8}  {'limited by':10}  "
          f"{'inner loop: FFMA / all':24}  loop over tiles (divisions)")
    for name, float_type, used in rows:
        threads = block_threads(name)
        blocks, limit = resident_blocks(used["registers"], used["shared"], threads)
        warps = blocks * -(-threads // 32)
        found = used.get("loops") or []
        inner, outer = ([f"{f} / {n} ({f / n:.0%})" for f, n, _ in (found[0], found[-1])]
                        if found else ["", ""])
        outer += f" ({found[-1][2]})" if found else ""
        print(f"{name:34} {float_type:8} {threads:>7} {used['registers']:>5} "
              f"{used['shared']:>7} {used['stack']:>5} {used['spilled']:>5} {blocks:>9} "
              f"{warps:>8}  {limit:10}  {inner:24}  {outer}")
    local = sum(1 for *_, used in rows if used["stack"] or used["spilled"])
    print(f"assembled {len(rows)} kernels for sm_90 with ptxas: {local} use local memory")


if __name__ == "__main__":
    sys.exit(main())
