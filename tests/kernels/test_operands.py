"""The index arithmetic the CUDA products' operands decode with (`atlas.kernels.cuda.operands`),
run as plain Python, and which products' epilogues apply an activation: every operand and
epilogue is checked through the products themselves in `test_dense.py` and `test_conv.py`."""


def test_split_is_floor_division_and_remainder_across_the_31_bit_range():
    """`operands._split` (run as Python here) against ``divmod`` on indices up to 2**31 - 1."""
    from atlas.kernels.cuda import operands

    split = operands._split.py_func
    for index in (0, 1, 6, 7, 783, 784, 50175, 2**30, 2**31 - 2, 2**31 - 1):
        for size in (1, 3, 7, 28, 784, 65536):
            assert split(index, size) == divmod(index, size), (index, size)


def test_digits_advanced_by_a_step_are_the_digits_of_the_sum(rng):
    """`operands._add3` (run as Python) against decoding ``index + s`` afresh, for the mixed
    radices of kernel taps and planes, steps smaller and larger than a radix, and runs of
    steps from one index as a thread of the products takes them (no division inside)."""
    from atlas.kernels.cuda import operands

    split3, add3 = operands._split3.py_func, operands._add3.py_func
    for rows, cols in ((1, 1), (1, 5), (5, 1), (3, 3), (2, 4), (28, 28), (7, 13)):
        for s in (1, 4, 16, 64, 256, rows * cols, rows * cols + 1):
            step = split3(s, rows, cols)
            digits = split3(index := int(rng.integers(0, 5000)), rows, cols)
            for _ in range(40):
                digits, index = add3(digits, step, rows, cols), index + s
                assert digits == split3(index, rows, cols), (rows, cols, s, index)


def test_only_a_forward_product_applies_an_activation_and_each_variant_is_made_once():
    """`gemm.Product.activated` and `chained`: the products whose output is a matrix or
    planes make one variant per activation code and direction and keep it; a product
    that writes weight gradients refuses, and no product applies both."""
    import numpy as np
    import pytest

    from atlas.kernels.cuda import gemm
    from atlas.kernels.cuda.launch import no_values
    from atlas.kernels.scalar import TANH

    tanh = gemm.CONV.activated(TANH)
    assert tanh is gemm.CONV.activated(TANH) and tanh.kind == TANH
    assert repr(tanh) == f"Product(WEIGHTS, PATCHES, PLANES_OUT, kind={TANH})"
    assert gemm.MATMUL.activated(TANH).epilogue is gemm.MATRIX_OUT
    with pytest.raises(ValueError, match="WEIGHTS_OUT writes gradients: it applies no "
                                         "activation"):
        gemm.CONV_WEIGHTS.activated(TANH)
    chained = gemm.CONV_INPUT.chained(TANH)
    assert chained is gemm.CONV_INPUT.chained(TANH) and chained is not \
        gemm.CONV_INPUT.activated(TANH)
    assert repr(chained) == f"Product(WEIGHTS_T, SPREAD, PLANES_OUT, kind={TANH}, derivative)"
    with pytest.raises(ValueError, match="WEIGHTS_OUT writes gradients"):
        gemm.CONV_WEIGHTS.chained(TANH)
    a = no_values(np.float64, 2)
    with pytest.raises(ValueError, match="an activation .forward. or its derivative"):
        gemm.MATMUL(a, a, a, 0, 0, 0, activation=(TANH, 0.0, a), chain=(TANH, 0.0, a))
