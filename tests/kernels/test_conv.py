"""Convolution kernels: the module's plain loops as the reference, the course's edge-detection examples,
and the CUDA twins under the simulator."""

import numpy as np
import pytest

from atlas.kernels import cpu
from atlas.kernels.cpu import conv
from atlas.kernels.cpu._conv import channels_last, direct, im2col_gemm, planes, winograd
from atlas.kernels.scalar import ELU, GELU, SIGMOID, SWISH, TANH

from .twins import activation_pair, assert_twins_agree

# (N, C_in, H, W, C_out, kh, kw, stride, padding, dilation): odd sizes, stride > 1, batch 1,
# asymmetric kernels, dilation, padding wider than the kernel's reach.
GEOMETRIES = [
    (1, 1, 5, 5, 1, 3, 3, (1, 1), (0, 0), (1, 1)),
    (2, 3, 7, 5, 4, 3, 2, (2, 1), (1, 0), (1, 1)),
    (1, 2, 6, 9, 3, 3, 3, (1, 2), (2, 1), (2, 1)),
    (3, 1, 9, 8, 2, 5, 5, (3, 3), (2, 2), (1, 1)),
    (2, 2, 4, 4, 2, 1, 1, (2, 2), (0, 0), (1, 1)),
    # Stride 1 takes the wide-row path: padding, dilation and asymmetric kernels there too.
    (2, 3, 6, 7, 4, 3, 2, (1, 1), (1, 2), (2, 1)),
    (3, 2, 5, 4, 3, 5, 3, (1, 1), (2, 1), (1, 1)),
    (1, 1, 1, 1, 2, 1, 1, (1, 1), (0, 0), (1, 1)),
    # Stride 2 with an even kernel (the DCGAN's 4x4 at stride 2): the strided gather.
    (3, 2, 9, 8, 3, 4, 4, (2, 2), (1, 1), (1, 1)),
    (2, 3, 7, 10, 2, 2, 4, (2, 2), (0, 2), (1, 1)),
    # Strided with enough channels for the entry points to choose the channels-last path
    # (the convolution's and the transposed one's), uneven strides, dilation.
    (2, 9, 7, 8, 11, 3, 4, (2, 3), (1, 2), (1, 1)),
    (1, 12, 9, 10, 9, 3, 3, (2, 2), (2, 1), (1, 2)),
    (1, 8, 5, 5, 2, 4, 4, (2, 2), (1, 1), (1, 1)),  # the smallest: runs of 32, for the twins
    # Square 3x3 and 5x5 kernels at stride 1: Winograd's tiles, cut off at odd edges, with
    # asymmetric padding, and enough channels for the entry points to choose that path.
    (1, 3, 7, 9, 2, 3, 3, (1, 1), (1, 1), (1, 1)),
    (3, 4, 13, 6, 5, 5, 5, (1, 1), (0, 2), (1, 1)),
    (2, 16, 9, 11, 17, 3, 3, (1, 1), (1, 1), (1, 1)),
    (1, 16, 7, 6, 18, 5, 5, (1, 1), (2, 1), (1, 1)),
]


def conv_output(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def naive_conv2d(x, W, b, stride, padding, dilation):
    """The module's plain loops (`conv._naive_forward`) into a new array."""
    oh = conv_output(x.shape[2], W.shape[2], stride[0], padding[0], dilation[0])
    ow = conv_output(x.shape[3], W.shape[3], stride[1], padding[1], dilation[1])
    y = np.empty((x.shape[0], W.shape[0], oh, ow))
    conv._naive_forward(x, W, b, stride, padding, dilation, y)
    return y


def naive_conv_transpose2d(x, W, b, stride, padding, dilation, out_hw):
    """A transposed convolution is a convolution's input gradient: the plain loops'
    `conv._naive_backward` with ``x`` as the output gradient, plus the bias. ``W`` is laid
    out ``(C_in, C_out, kh, kw)`` as the transposed layer keeps it: the convolution it is
    the adjoint of maps ``C_out`` channels to ``C_in``."""
    n = x.shape[0]
    out = np.zeros((n, W.shape[1], *out_hw))
    dx, dW, db = np.empty_like(out), np.empty_like(W), np.empty(W.shape[0])
    conv._naive_backward(x, out, W, stride, padding, dilation, dx, dW, db)
    return dx + b[None, :, None, None]


def test_the_plain_loops_agree_with_a_literal_reading_of_the_formula(rng):
    """The reference itself, checked once against NumPy on a case small enough to write
    out: a 3x3 'valid' convolution is a sum of nine shifted, weighted copies."""
    x = rng.standard_normal((2, 3, 6, 5))
    W = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    expected = np.zeros((2, 4, 4, 3)) + b[None, :, None, None]
    for i in range(3):
        for j in range(3):
            expected += np.einsum("oc,ncpq->nopq", W[:, :, i, j], x[:, :, i:i + 4, j:j + 3])
    np.testing.assert_allclose(naive_conv2d(x, W, b, (1, 1), (0, 0), (1, 1)), expected,
                               rtol=1e-12)
    dy = rng.standard_normal(expected.shape)
    dx, dW, db = np.empty_like(x), np.empty_like(W), np.empty_like(b)
    conv._naive_backward(dy, x, W, (1, 1), (0, 0), (1, 1), dx, dW, db)
    expected_dx = np.zeros_like(x)
    for i in range(3):
        for j in range(3):
            expected_dx[:, :, i:i + 4, j:j + 3] += np.einsum("oc,nopq->ncpq", W[:, :, i, j], dy)
            assert np.allclose(dW[:, :, i, j],
                               np.einsum("nopq,ncpq->oc", dy, x[:, :, i:i + 4, j:j + 3]))
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-12)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 2, 3)), rtol=1e-12)


def band_workspace(channels, kh, kw, out_h, out_w, stride, dilation, rows=2):
    """Values for im2col's columns of ``rows`` rows of outputs (and one more): a sample of
    more rows is processed in bands of that many (`planes.buffers`)."""
    _, _, row_width = planes.geometry(out_h, out_w, kh, kw, stride, dilation)
    return channels * kh * kw * row_width * rows + 1


def conv_arrays(geometry, rng, dtype=np.float64, workspace=None):
    n, c_in, h, w, c_out, kh, kw, stride, padding, dilation = geometry
    oh = conv_output(h, kh, stride[0], padding[0], dilation[0])
    ow = conv_output(w, kw, stride[1], padding[1], dilation[1])
    x = rng.standard_normal((n, c_in, h, w)).astype(dtype)
    W = rng.standard_normal((c_out, c_in, kh, kw)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    if workspace == "bands":
        workspace = band_workspace(c_in, kh, kw, oh, ow, stride, dilation)
    # A 1-D workspace for two samples' columns of OW values per row (and a bit): chunks of
    # two samples on a GPU, of one or two on the CPU, whose stride-1 rows are wider.
    cols = np.empty(workspace or c_in * kh * kw * oh * ow * 2 + 5, dtype)
    y = np.empty((n, c_out, oh, ow), dtype)
    return x, W, b, cols, y


# Workspace sizes: the default, one too small for a row of outputs (the kernels make their
# own room, a row at a time), one for two rows (im2col's samples in bands of two rows), one
# that holds the whole batch (a single matrix product).
WORKSPACES = [None, 1, "bands", 10**6]


def direct_forward(x, W, b, stride, padding, dilation, cols, y):
    direct.forward(x, W, b, padding, dilation, y)


def direct_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, input_grad):
    direct.backward(dy, x, W, padding, dilation, dx, dW, db, input_grad)


def winograd_forward(x, W, b, stride, padding, dilation, cols, y):
    AT, G, BT = winograd.transforms(W.shape[2], x.dtype)
    winograd.forward(x, winograd.filter_transform(W, G), b, padding, AT, BT, y)


def winograd_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, input_grad):
    AT, G, BT = winograd.transforms(W.shape[2], x.dtype)
    U = winograd.filter_transform(W, G)
    dU = np.empty_like(U)
    winograd.backward(dy, x, U, padding, AT, BT, dx, dU, db, input_grad)
    winograd.filter_transform_adjoint(dU, G, dW)


def takes_winograd(geometry):
    """Stride 1, no dilation, a square 3x3 or 5x5 kernel (any number of channels)."""
    _, _, _, _, _, kh, kw, stride, _, dilation = geometry
    return stride == dilation == (1, 1) and kh == kw and kh in (3, 5)


# The four algorithms on every geometry they take (the two im2col layouts with each
# workspace size), and the entry points, which choose between them.
ALGORITHMS = {"im2col": (im2col_gemm.forward, im2col_gemm.backward),
              "channels_last": (channels_last.forward, channels_last.backward),
              "direct": (direct_forward, direct_backward),
              "winograd": (winograd_forward, winograd_backward),
              "chosen": (cpu.conv2d_forward, cpu.conv2d_backward)}
CASES = [(name, workspace, geometry) for geometry in GEOMETRIES
         for name, workspace in [(path, w) for path in ("im2col", "channels_last")
                                 for w in WORKSPACES] + [("direct", None),
                                                                       ("winograd", None),
                                                                       ("chosen", None)]
         if (name != "direct" or geometry[7] == (1, 1))
         and (name != "winograd" or takes_winograd(geometry))]


@pytest.mark.parametrize("algorithm,workspace,geometry", CASES)
def test_conv2d_matches_naive_loops_and_its_adjoint(algorithm, workspace, geometry, rng):
    forward, backward = ALGORITHMS[algorithm]
    stride, padding, dilation = geometry[7:]
    x, W, b, cols, y = conv_arrays(geometry, rng, workspace=workspace)
    forward(x, W, b, stride, padding, dilation, cols, y)
    np.testing.assert_allclose(y, naive_conv2d(x, W, b, stride, padding, dilation),
                               rtol=1e-10, atol=1e-12)
    # Backward: <dy, conv(x)> is linear in x and W, so its exact gradients are the adjoints,
    # checked here against the naive transposed convolution and the naive weight gradient.
    dy = rng.standard_normal(y.shape)
    dx, dW, db = np.empty_like(x), np.empty_like(W), np.empty_like(b)
    backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, True)
    expected_dx = naive_conv_transpose2d(dy, W, np.zeros(x.shape[1]), stride, padding,
                                         dilation, x.shape[2:])
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 2, 3)), rtol=1e-10)
    dx_ref, dW_ref, db_ref = np.empty_like(x), np.empty_like(W), np.empty_like(b)
    conv._naive_backward(dy, x, W, stride, padding, dilation, dx_ref, dW_ref, db_ref)
    np.testing.assert_allclose(dW, dW_ref, rtol=1e-10, atol=1e-12)  # every tap
    eps = 1e-6  # dW by the definition: the conv is linear in W, so differences are exact
    for index in [(0, 0, 0, 0), tuple(s - 1 for s in W.shape)]:
        bumped = W.copy()
        bumped[index] += eps
        change = naive_conv2d(x, bumped, b, stride, padding, dilation) - y
        assert dW[index] == pytest.approx(np.sum(change * dy) / eps, rel=1e-5, abs=1e-8)


def test_direct_backward_without_the_input_gradient_leaves_dx_alone(rng):
    geometry = (2, 3, 6, 7, 5, 3, 2, (1, 1), (1, 2), (2, 1))
    x, W, b, cols, y = conv_arrays(geometry, rng)
    dy = rng.standard_normal(y.shape)
    dx, dW, db = np.full_like(x, 7.0), np.empty_like(W), np.empty_like(b)
    direct_backward(dy, x, W, *geometry[7:], cols, dx, dW, db, False)
    expected_dW, expected_db = np.empty_like(W), np.empty_like(b)
    im2col_gemm.backward(dy, x, W, *geometry[7:], cols, np.empty_like(x), expected_dW,
                         expected_db, True)
    np.testing.assert_allclose(dW, expected_dW, rtol=1e-10)
    np.testing.assert_allclose(db, expected_db, rtol=1e-10)
    assert np.all(dx == 7.0)


@pytest.mark.parametrize("c_out,c_in,k,stride,chosen", [
    (6, 1, 5, (1, 1), True),  # LeNet-5's first convolution
    (16, 6, 5, (1, 1), True),  # and its second
    (32, 1, 5, (1, 1), True),  # the two-convolution network's first: 25 taps
    (64, 32, 5, (1, 1), False),  # and its second
    (64, 64, 3, (1, 1), False),  # VGG-16's first stage
    (6, 1, 5, (2, 1), False),  # stride 2 always takes im2col
])
def test_the_direct_path_takes_thin_products_at_stride_1(c_out, c_in, k, stride, chosen):
    assert direct.wins(c_out, c_in * k * k, stride) is chosen


@pytest.mark.parametrize("c_out,c_in,k,stride,dilation,chosen", [
    (64, 32, 5, (1, 1), (1, 1), True),  # the two-convolution network's second convolution
    (32, 32, 3, (1, 1), (1, 1), True),  # ResNet-20's middle stage
    (16, 16, 3, (1, 1), (1, 1), True),  # and its first (asked before the direct rule)
    (16, 6, 5, (1, 1), (1, 1), False),  # LeNet-5's second convolution stays direct
    (64, 64, 3, (1, 1), (2, 2), False),  # dilated
    (64, 64, 3, (2, 2), (1, 1), False),  # strided
    (64, 64, 4, (1, 1), (1, 1), False),  # an even kernel
    (64, 8, 3, (1, 1), (1, 1), False),  # too few input channels
])
def test_the_winograd_path_takes_square_3x3_and_5x5_kernels_at_stride_1(
        c_out, c_in, k, stride, dilation, chosen):
    assert winograd.wins((c_out, c_in, k, k), stride, dilation) is chosen


def test_winograd_runs_a_large_batch_in_chunks_of_samples_side_by_side(rng):
    """Forty-five samples of 16 -> 18 channels: chunks of twenty (`geometry`), the last
    one of five, each chunk's samples side by side through the transforms."""
    geometry = (45, 16, 7, 6, 18, 5, 5, (1, 1), (2, 1), (1, 1))
    chunk = winograd.geometry(7, 6, 5, 2, 45, 16 + 18)[4]
    assert 1 < chunk < 45 and 45 % chunk != 0
    x, W, b, cols, y = conv_arrays(geometry, rng)
    winograd_forward(x, W, b, (1, 1), (2, 1), (1, 1), cols, y)
    np.testing.assert_allclose(y, naive_conv2d(x, W, b, (1, 1), (2, 1), (1, 1)),
                               rtol=1e-10, atol=1e-11)
    dy = rng.standard_normal(y.shape)
    dx, dW, db = np.empty_like(x), np.empty_like(W), np.empty_like(b)
    winograd_backward(dy, x, W, (1, 1), (2, 1), (1, 1), cols, dx, dW, db, True)
    dx_ref, dW_ref, db_ref = np.empty_like(x), np.empty_like(W), np.empty_like(b)
    conv._naive_backward(dy, x, W, (1, 1), (2, 1), (1, 1), dx_ref, dW_ref, db_ref)
    for got, want in [(dx, dx_ref), (dW, dW_ref), (db, db_ref)]:
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("r", [3, 5])
def test_winograd_transforms_compute_the_correlation(r, rng):
    r"""$A^T[(G g) \odot (B^T d)]$ is the 'valid' correlation of a tile $d$ of $\alpha$
    values with the filter $g$; also for the textbook's $F(2, 3)$ on tiles of four."""
    for alpha in (winograd.ALPHA, 4):
        if alpha - r + 1 < 1:
            continue
        AT, G, BT = winograd.transforms(r, alpha=alpha)
        assert AT.shape == (alpha - r + 1, alpha) and G.shape == (alpha, r)
        g, d = rng.standard_normal(r), rng.standard_normal(alpha)
        np.testing.assert_allclose(AT @ ((G @ g) * (BT @ d)),
                                   np.correlate(d, g, mode="valid"), rtol=1e-12, atol=1e-12)


def test_winograd_in_float32_stays_within_a_few_units_of_rounding(rng):
    """The transforms trade multiplications for rounding: on the two-convolution network's
    second convolution (5x5, 32 -> 64 channels) the float32 outputs and gradients stay
    within 3e-5 of the float64 plain loops, relative to their largest value."""
    geometry = (2, 32, 14, 14, 64, 5, 5, (1, 1), (2, 2), (1, 1))
    x, W, b, cols, y = conv_arrays(geometry, rng, dtype=np.float32)
    W *= 0.05
    dy = rng.standard_normal(y.shape).astype(np.float32)
    winograd_forward(x, W, b, (1, 1), (2, 2), (1, 1), cols, y)
    dx, dW, db = np.empty_like(x), np.empty_like(W), np.empty_like(b)
    winograd_backward(dy, x, W, (1, 1), (2, 2), (1, 1), cols, dx, dW, db, True)
    x64, W64, dy64 = x.astype(np.float64), W.astype(np.float64), dy.astype(np.float64)
    expected = naive_conv2d(x64, W64, b.astype(np.float64), (1, 1), (2, 2), (1, 1))
    dx_ref, dW_ref, db_ref = np.empty_like(x64), np.empty_like(W64), np.empty(64)
    conv._naive_backward(dy64, x64, W64, (1, 1), (2, 2), (1, 1), dx_ref, dW_ref, db_ref)
    for got, want in [(y, expected), (dx, dx_ref), (dW, dW_ref)]:
        assert np.abs(got - want).max() <= 3e-5 * np.abs(want).max()


TRANSPOSED = {"im2col": (im2col_gemm.transpose_forward, im2col_gemm.transpose_backward),
              "channels_last": (channels_last.transpose_forward,
                                channels_last.transpose_backward),
              "chosen": (cpu.conv_transpose2d_forward, cpu.conv_transpose2d_backward)}


@pytest.mark.parametrize("path,workspace", [(path, w) for path in ("im2col", "channels_last")
                                            for w in WORKSPACES] + [("chosen", None)])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_conv_transpose2d_matches_naive_loops(geometry, workspace, path, rng):
    n, c_in, h, w, c_out, kh, kw, stride, padding, dilation = geometry
    forward, backward = TRANSPOSED[path]
    x = rng.standard_normal((n, c_in, h, w))
    W = rng.standard_normal((c_in, c_out, kh, kw))
    b = rng.standard_normal(c_out)
    out_hw = tuple((size - 1) * s - 2 * p + d * (k - 1) + 1
                   for size, k, s, p, d in zip((h, w), (kh, kw), stride, padding, dilation))
    assert min(out_hw) >= 1, "every geometry here leaves a transposed-convolution output"
    if workspace == "bands":  # the convolution it is the adjoint of has h x w outputs
        workspace = band_workspace(c_out, kh, kw, h, w, stride, dilation)
    cols = np.empty(workspace or c_out * kh * kw * h * w)  # by default, a sample's worth
    y = np.empty((n, c_out, *out_hw))
    check_transposed_against_the_plain_loops(forward, backward, x, W, b, stride, padding,
                                             dilation, cols, y, rng)


def check_transposed_against_the_plain_loops(forward, backward, x, W, b, stride, padding,
                                             dilation, cols, y, rng):
    """Run a transposed convolution's ``forward`` into ``y``, then its ``backward`` (the
    input's gradient asked for, its array poisoned with NaN) on a random ``dy``, and compare
    with the plain loops: the input gradient is the convolution the layer is the adjoint
    of, and the weight gradient is that convolution's, with the roles of input and output
    swapped."""
    c_in = x.shape[1]
    forward(x, W, b, stride, padding, dilation, cols, y)
    np.testing.assert_allclose(y, naive_conv_transpose2d(x, W, b, stride, padding, dilation,
                                                         y.shape[2:]), rtol=1e-10, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx, dW, db = np.full_like(x, np.nan), np.empty_like(W), np.empty_like(b)
    backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, True)
    np.testing.assert_allclose(dx, naive_conv2d(dy, W, np.zeros(c_in), stride, padding,
                                                dilation), rtol=1e-10, atol=1e-12)
    dy_ref, dW_ref, db_ref = np.empty_like(dy), np.empty_like(W), np.empty(c_in)
    conv._naive_backward(x, dy, W, stride, padding, dilation, dy_ref, dW_ref, db_ref)
    np.testing.assert_allclose(dW, dW_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 2, 3)), rtol=1e-10)


def check_against_the_plain_loops(forward, backward, x, W, b, stride, padding, dilation, cols,
                                  y, rng):
    """Run ``forward`` into ``y``, then ``backward`` (the input's gradient asked for, its
    array poisoned with NaN) on a random ``dy``, and compare the output and the three
    gradients with the plain loops'. Returns ``dy``."""
    forward(x, W, b, stride, padding, dilation, cols, y)
    np.testing.assert_allclose(y, naive_conv2d(x, W, b, stride, padding, dilation),
                               rtol=1e-10, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx, dW, db = np.full_like(x, np.nan), np.empty_like(W), np.empty_like(b)
    backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, True)
    dx_ref, dW_ref, db_ref = np.empty_like(x), np.empty_like(W), np.empty_like(b)
    conv._naive_backward(dy, x, W, stride, padding, dilation, dx_ref, dW_ref, db_ref)
    for got, expected in ((dx, dx_ref), (dW, dW_ref), (db, db_ref)):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    return dy


def test_im2col_processes_a_sample_too_large_for_its_workspace_in_bands_of_rows(rng):
    """A 3-channel 23x17 image under a 5x5 kernel, stride 1 and 2: with room for the columns
    of five rows of outputs, each sample goes in bands of five (the last one shorter),
    forward, backward and transposed, and every value is the plain loops'."""
    for stride in ((1, 1), (2, 1)):
        geometry = (2, 3, 23, 17, 4, 5, 5, stride, (2, 1), (1, 1))
        n, c_in, h, w, c_out, kh, kw, _, padding, dilation = geometry
        oh = conv_output(h, kh, stride[0], padding[0], dilation[0])
        ow = conv_output(w, kw, stride[1], padding[1], dilation[1])
        size = band_workspace(c_in, kh, kw, oh, ow, stride, dilation, rows=5)
        x, W, b, cols, y = conv_arrays(geometry, rng, workspace=size)
        hp, wp, row_width = planes.geometry(oh, ow, kh, kw, stride, dilation)
        _, chunk, band, _, _ = planes.buffers(cols, n, c_in, kh, kw, oh, hp, wp, row_width,
                                              dilation, c_out)
        assert (chunk, band) == (1, 5) and oh % band != 0  # the premise: ragged bands
        dy = check_against_the_plain_loops(im2col_gemm.forward, im2col_gemm.backward, x, W, b,
                                           stride, padding, dilation, cols, y, rng)
        # The transposed convolution of the same shapes, its input dy in bands of 5 rows.
        Wt = rng.standard_normal((c_out, c_in, kh, kw))
        check_transposed_against_the_plain_loops(
            im2col_gemm.transpose_forward, im2col_gemm.transpose_backward, dy, Wt, b[:c_in],
            stride, padding, dilation, cols, np.empty_like(x), rng)


@pytest.mark.parametrize("path", ["chosen", "im2col", "channels_last", "direct", "winograd"])
def test_a_batch_smaller_than_the_threads_runs_in_bands_of_output_rows(path, rng, monkeypatch):
    """With three threads (and no minimum piece), every geometry of fewer than three samples
    is cut into bands of output rows, each a convolution of its own with the padding above
    it that its rows need, its input rows overlapping its neighbours' (their gradients
    added): the same outputs and gradients as the plain loops, on every path."""
    from atlas.kernels.cpu import threads

    before = threads.count()
    threads.set_threads(3)
    monkeypatch.setattr(threads, "ELEMENTS_PER_PIECE", 1)
    paths = {"im2col": im2col_gemm, "channels_last": channels_last, "direct": direct,
             "winograd": winograd}
    if path != "chosen":  # the entry points, made to take this path alone
        for name in ("direct", "winograd"):
            monkeypatch.setattr(paths[name], "wins", lambda *args, _on=name == path: _on)
        monkeypatch.setattr(conv, "_im2col_layout", lambda stride, W: paths[path])
    try:
        tried = 0
        for geometry in GEOMETRIES:
            stride, padding, dilation = geometry[7:]
            if (geometry[0] >= 3 or (path == "direct" and stride != (1, 1))
                    or (path == "winograd" and not takes_winograd(geometry))):
                continue
            x, W, b, cols, y = conv_arrays(geometry, rng)
            pieces = conv._pieces(x, y, W, stride, padding, dilation, cols)
            assert all(p.banded for p in pieces) and len(pieces) == min(3, y.shape[2])
            tried += len(pieces) > 1
            check_against_the_plain_loops(cpu.conv2d_forward, cpu.conv2d_backward, x, W, b,
                                          stride, padding, dilation, cols, y, rng)
        assert tried >= 3  # the premise: geometries really cut into several bands
    finally:
        threads.set_threads(before)


@pytest.mark.parametrize("stride,channels,kw,chosen", [
    ((2, 2), 32, 4, True),  # the DCGAN discriminator's second convolution: runs of 128
    ((2, 2), 16, 3, True),  # ResNet-20's first stride-2 convolution: runs of 48
    ((2, 2), 1, 4, False),  # the DCGAN's first convolution: runs of 4 values
    ((2, 2), 32, 1, False),  # ResNet's 1x1 shortcut: a patch is one pixel
    ((1, 1), 64, 3, False),  # stride 1: the wide rows of im2col are contiguous already
    ((1, 2), 8, 4, True),  # a stride of 2 along one axis is enough
])
def test_the_channels_last_path_takes_strided_kernels_with_long_runs(stride, channels, kw,
                                                                      chosen):
    assert channels_last.wins(stride, channels, kw) is chosen


def test_channels_last_gather_and_scatter_add_are_adjoint(rng):
    planes = rng.standard_normal((2, 9, 11, 3))
    kh, kw, stride, dilation = 3, 2, (2, 3), (2, 1)
    oh = (9 - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (11 - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    patches = np.empty((2 * oh * ow, kh * kw * 3))
    copies = channels_last.runs(2, 9, 11, 3, kh, kw, stride, dilation)
    channels_last.gather(planes, copies, patches)
    assert patches[-1, -1] == planes[1, (oh - 1) * 2 + 4, (ow - 1) * 3 + 1, 2]
    p = rng.standard_normal(patches.shape)
    back = np.empty_like(planes)
    channels_last.scatter_add(p, copies, back)
    assert np.sum(patches * p) == pytest.approx(np.sum(planes * back), rel=1e-12)


def test_im2col_and_col2im_are_adjoint(rng):
    x = rng.standard_normal((2, 3, 7, 6))
    cols = np.empty((3, 3, 2, 2, 4, 3))
    cpu.im2col(x, (2, 2), (1, 0), (1, 2), cols)
    c = rng.standard_normal(cols.shape)
    back = np.empty_like(x)
    cpu.col2im(c, (2, 2), (1, 0), (1, 2), back)
    assert np.sum(cols * c) == pytest.approx(np.sum(x * back), rel=1e-12)


# The course's edge-detection examples, exactly.
SOBEL = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)
PREWITT_HORIZONTAL = np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], dtype=np.float64)


def filter_image(image, kernel):
    x = image[None, None].astype(np.float64)
    W = kernel[None, None]
    oh, ow = image.shape[0] - 2, image.shape[1] - 2
    y = np.empty((1, 1, oh, ow))
    cpu.conv2d_forward(x, W, np.zeros(1), (1, 1), (0, 0), (1, 1), np.empty(9 * oh * ow), y)
    return y[0, 0]


def test_sobel_finds_the_vertical_edge_of_the_6x6_image():
    image = np.array([[5, 5, 5, 0, 0, 0]] * 6)
    np.testing.assert_array_equal(filter_image(image, SOBEL), [[0, 20, 20, 0]] * 4)


def test_prewitt_finds_the_horizontal_edge_of_the_6x3_image():
    image = np.array([[40] * 3] * 3 + [[10] * 3] * 3)
    np.testing.assert_array_equal(filter_image(image, PREWITT_HORIZONTAL).ravel(),
                                  [0, 90, 90, 0])


@pytest.mark.parametrize("geometry,dtype", [
    (geometry, dtype) for geometry in (GEOMETRIES[1], GEOMETRIES[2], GEOMETRIES[5])
    for dtype in (np.float32, np.float64)
] + [(GEOMETRIES[12], np.float32),  # the CPU's channels-last path against the GPU's
     (GEOMETRIES[3], np.float64),  # stride 3, padding as wide as the 5x5 kernel's reach
     (GEOMETRIES[9], np.float64)])  # a 2x4 kernel at stride 2, padding on one axis only
def test_conv_cuda_twins(geometry, dtype, rng):
    """Every pass of the GPU's implicit-GEMM convolution (and the im2col / col2im twins)
    against the CPU, on odd sizes, strides, dilation and padding, each layer's forward
    with an activation after it and backward through one before it too."""
    stride, padding, dilation = geometry[7:]
    x, W, b, cols, y = conv_arrays(geometry, rng, dtype)
    cols6 = np.empty((x.shape[1], *W.shape[2:], x.shape[0], *y.shape[2:]), dtype)
    assert_twins_agree("im2col", x, stride, padding, dilation, cols6)
    assert_twins_agree("col2im", rng.standard_normal(cols6.shape).astype(dtype), stride,
                       padding, dilation, np.empty_like(x))
    for workspace in (cols, np.empty(1, dtype)):  # chunks, then a workspace too small for one
        assert_twins_agree("conv2d_forward", x, W, b, stride, padding, dilation, workspace,
                           y, scratch=[6])
    cpu.conv2d_forward(x, W, b, stride, padding, dilation, cols, y)
    dy = rng.standard_normal(y.shape).astype(dtype)
    for input_grad in (True, False):
        assert_twins_agree("conv2d_backward", dy, x, W, stride, padding, dilation, cols,
                           np.zeros_like(x), np.empty_like(W), np.empty_like(b), input_grad,
                           scratch=[6])
    assert_twins_agree("conv2d_forward_activated", x, W, b, stride, padding, dilation, cols,
                       GELU, 0.0, np.empty_like(y), np.empty_like(y), scratch=[6])
    # The transposed convolution with the same weight maps y-shaped inputs to x-shaped ones.
    bias_t = rng.standard_normal(x.shape[1]).astype(dtype)
    tcols = np.empty(x.shape[1] * W.shape[2] * W.shape[3] * y.shape[2] * y.shape[3], dtype)
    assert_twins_agree("conv_transpose2d_forward", dy, W, bias_t, stride, padding, dilation,
                       tcols, np.empty_like(x), scratch=[6])
    assert_twins_agree("conv_transpose2d_forward_activated", dy, W, bias_t, stride, padding,
                       dilation, tcols, TANH, 0.0, np.empty_like(x), np.empty_like(x),
                       scratch=[6])
    for input_grad in (True, False):
        assert_twins_agree("conv_transpose2d_backward", x, dy, W, stride, padding, dilation,
                           tcols, np.zeros_like(dy), np.empty_like(W), np.empty_like(bias_t),
                           input_grad, scratch=[6])
    # Backward through an activation before each layer (inputs x = f(z)).
    z, x_act = activation_pair(x.shape, SWISH, 1.5, rng, dtype)
    assert_twins_agree("conv2d_backward_chained", dy, x_act, W, stride, padding, dilation,
                       cols, SWISH, 1.5, z, np.zeros_like(x), np.empty_like(W),
                       np.empty_like(b), True, scratch=[6])
    z, dy_act = activation_pair(dy.shape, SIGMOID, 0.0, rng, dtype)
    assert_twins_agree("conv_transpose2d_backward_chained", x, dy_act, W, stride, padding,
                       dilation, tcols, SIGMOID, 0.0, z, np.zeros_like(dy), np.empty_like(W),
                       np.empty_like(bias_t), True, scratch=[6])


def _all_passes_agree(geometry, rng, dtype=np.float32, activated=True):
    """Forward and backward of the convolution and of the transposed convolution with the
    same weights, on the CPU and the GPU (and, when ``activated``, each forward with an
    activation after it and each backward through an activation before it)."""
    stride, padding, dilation = geometry[7:]
    x, W, b, cols, y = conv_arrays(geometry, rng, dtype)
    close = {"rtol": 1e-4, "atol": 1e-4, "scratch": [6]}
    assert_twins_agree("conv2d_forward", x, W, b, stride, padding, dilation, cols, y, **close)
    if activated:
        assert_twins_agree("conv2d_forward_activated", x, W, b, stride, padding, dilation,
                           cols, ELU, 0.5, np.empty_like(y), np.empty_like(y), **close)
    cpu.conv2d_forward(x, W, b, stride, padding, dilation, cols, y)
    dy = rng.standard_normal(y.shape).astype(dtype)
    assert_twins_agree("conv2d_backward", dy, x, W, stride, padding, dilation, cols,
                       np.zeros_like(x), np.empty_like(W), np.empty_like(b), True, **close)
    bias_t = rng.standard_normal(x.shape[1]).astype(dtype)
    tcols = np.empty(x.shape[1] * W.shape[2] * W.shape[3] * y.shape[2] * y.shape[3], dtype)
    assert_twins_agree("conv_transpose2d_forward", dy, W, bias_t, stride, padding, dilation,
                       tcols, np.empty_like(x), **close)
    if activated:
        assert_twins_agree("conv_transpose2d_forward_activated", dy, W, bias_t, stride,
                           padding, dilation, tcols, TANH, 0.0, np.empty_like(x),
                           np.empty_like(x), **close)
    assert_twins_agree("conv_transpose2d_backward", x, dy, W, stride, padding, dilation,
                       tcols, np.zeros_like(dy), np.empty_like(W), np.empty_like(bias_t),
                       True, **close)
    if activated:
        z, x_act = activation_pair(x.shape, ELU, 0.5, rng, dtype)
        assert_twins_agree("conv2d_backward_chained", dy, x_act, W, stride, padding,
                           dilation, cols, ELU, 0.5, z, np.zeros_like(x), np.empty_like(W),
                           np.empty_like(b), True, **close)
        z, dy_act = activation_pair(dy.shape, TANH, 0.0, rng, dtype)
        assert_twins_agree("conv_transpose2d_backward_chained", x, dy_act, W, stride,
                           padding, dilation, tcols, TANH, 0.0, z, np.zeros_like(dy),
                           np.empty_like(W), np.empty_like(bias_t), True, **close)


@pytest.mark.parametrize("geometry", [GEOMETRIES[1], GEOMETRIES[2]])
def test_conv_cuda_products_in_the_register_blocked_kernel(geometry, rng, monkeypatch):
    """Every operand and epilogue of the GPU convolution through the register-blocked
    kernel (which larger layers take: the threshold is lowered so that small shapes do),
    with stride, dilation and padding."""
    from atlas.kernels.cuda import gemm

    monkeypatch.setattr(gemm, "BLOCKED_MIN", 1)
    _all_passes_agree(geometry, rng)


def test_conv_cuda_products_with_their_sums_cut_into_slices(rng, monkeypatch):
    """Sums of 144 and 128 terms cut into two slices (the threshold lowered from 1024): the
    last block of a tile, which adds the slices, writes through the epilogue, into the
    planes with the bias (forward), and into the weights and, from the column of ones,
    the bias (their gradients: 16 x 145 outputs, 10 blocks)."""
    from atlas.kernels.cuda import gemm

    monkeypatch.setattr(gemm, "SPLIT_MIN_K", 64)
    geometry = (2, 16, 8, 8, 16, 3, 3, (1, 1), (1, 1), (1, 1))
    for k, grid in ((16 * 9, 8), (2 * 8 * 8, 10)):  # forward's sum; the weight gradient's
        assert gemm._slices(grid, k, gemm.TILE) == 2
    stride, padding, dilation = geometry[7:]
    x, W, b, cols, y = conv_arrays(geometry, rng)
    assert_twins_agree("conv2d_forward", x, W, b, stride, padding, dilation, cols, y,
                       scratch=[6], rtol=1e-12, atol=1e-12)
    assert_twins_agree("conv2d_forward_activated", x, W, b, stride, padding, dilation, cols,
                       TANH, 0.0, np.empty_like(y), np.empty_like(y), scratch=[6], rtol=1e-12,
                       atol=1e-12)
    dy = rng.standard_normal(y.shape)
    assert_twins_agree("conv2d_backward", dy, x, W, stride, padding, dilation, cols,
                       np.zeros_like(x), np.empty_like(W), np.empty_like(b), False,
                       scratch=[6], rtol=1e-12, atol=1e-12)


def test_conv_cuda_blocked_products_with_their_sums_cut_into_slices(rng, monkeypatch):
    """The register-blocked kernel on slices of the sum: each block's threads decode their
    first terms at the start of a slice (not of the sum) and advance them from there,
    across tiles, in every pass (both thresholds lowered, float64)."""
    from atlas.kernels.cuda import gemm

    monkeypatch.setattr(gemm, "BLOCKED_MIN", 1)
    monkeypatch.setattr(gemm, "SPLIT_MIN_K", 64)
    geometry = (2, 16, 8, 7, 16, 3, 3, (1, 1), (1, 2), (1, 1))  # y: (2, 16, 8, 9)
    # Sums of 144 terms, outputs of 3 blocks (forward: 16 x 144; the weight gradient:
    # 16 x 145) and 2 (the input gradient: 16 x 112).
    for grid in (3, 2):
        assert gemm._slices(grid, 144, gemm.BK) == 2
    _all_passes_agree(geometry, rng, np.float64, activated=False)  # activated: tiled, above
