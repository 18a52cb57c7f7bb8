"""Every CPU kernel has a CUDA twin with the same name and argument list, and every CUDA
kernel compiles for a real GPU (not only in the simulator)."""

import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import atlas.kernels.cpu as cpu
import atlas.kernels.cuda as gpu


def cpu_kernels():
    """Public functions (compiled kernels, or Python entry points that run them on the pool
    of threads) of every kernel module in atlas/kernels/cpu/, by module and name."""
    found = {}
    for info in pkgutil.iter_modules(cpu.__path__):
        if info.name == "threads":  # the pool itself, not a concept
            continue
        module = __import__(f"atlas.kernels.cpu.{info.name}", fromlist=["_"])
        for name, obj in vars(module).items():
            function = getattr(obj, "py_func", obj)
            defined_here = inspect.isfunction(function) and function.__module__ == \
                module.__name__
            if defined_here and not name.startswith("_"):
                found[(info.name, name)] = obj
    return found


def test_every_cpu_kernel_has_a_cuda_twin_with_the_same_arguments():
    kernels = cpu_kernels()
    assert len(kernels) >= 29
    for (module_name, name), kernel in kernels.items():
        module = __import__(f"atlas.kernels.cuda.{module_name}", fromlist=["_"])
        twin = getattr(module, name, None)
        assert twin is not None, f"atlas.kernels.cuda.{module_name} lacks {name}"
        cpu_args = list(inspect.signature(getattr(kernel, "py_func", kernel)).parameters)
        cuda_args = list(inspect.signature(twin).parameters)
        assert cpu_args == cuda_args, (name, cpu_args, cuda_args)
        assert getattr(cpu, name) is kernel and getattr(gpu, name) is twin


def test_every_cuda_kernel_compiles_to_ptx_for_sm90_and_keeps_its_values_on_chip():
    """Every kernel compiles to PTX, and ptxas assembles each one for sm_90 with no stack
    frame and no spilled registers (a register-blocked product whose accumulators land in
    local memory runs several times slower, and nothing else would say so without a GPU):
    the 71 kernels, and in float32 the products made with each of the 9 activations in
    their epilogues, forward, and with each one's derivative, backward (3 products x 9 x 2
    x 2 kernels)."""
    script = Path(__file__).with_name("ptx_check.py")
    result = subprocess.run([sys.executable, str(script), "--resources"], capture_output=True,
                            text=True, timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "compiled 71 kernels x 2 float types and 108 activation variants x 1" in \
        result.stdout
    assert "assembled 250 kernels for sm_90 with ptxas: 0 use local memory" in result.stdout


def test_the_kernels_compile_under_numpy_without_row_stack():
    """NumPy 2.5 removed ``np.row_stack``, whose overload numba-cuda 0.30.4 compiles into
    every kernel: with the alias gone (as in NumPy 2.5), every kernel still compiles. (On
    NumPy 2.5 itself there is nothing to remove: seen on the GPU machine, 2026-11-30.)"""
    script = Path(__file__).with_name("ptx_check.py")
    code = ("import numpy, runpy, sys; numpy.__dict__.pop('row_stack', None); "
            "numpy.__all__ = [n for n in numpy.__all__ if n != 'row_stack']; "
            f"sys.argv = [sys.argv[0]]; runpy.run_path({str(script)!r}, run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=600, cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "compiled 71 kernels" in result.stdout
