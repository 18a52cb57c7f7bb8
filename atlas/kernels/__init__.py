"""Compiled kernels: the math of the engine.

``cpu/`` holds ``@njit`` kernels, ``cuda/`` their ``@cuda.jit`` twins with the same names
and argument lists. Per-element math that both backends share lives once, in
`scalar`, as ``@njit`` functions that Numba also compiles for the GPU.
Kernels know nothing about layers: they read the arrays they are given and write into
preallocated outputs.
"""
