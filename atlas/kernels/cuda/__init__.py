"""``@cuda.jit`` twins of `cpu`: same module names, same function names,
same argument lists.

Each public function here is a thin host-side launcher that computes the launch
configuration and starts one or more ``@cuda.jit`` kernels (private, ``_``-prefixed) on
device arrays. Functions that return a value on the CPU (the losses, ``squared_norm``)
return the same Python float here, copied back from the device.

Importing this package needs numba-cuda (``pip install 'atlas[cuda]'``); it first
restores ``np.row_stack`` under NumPy 2.5 (see `_numpy_compat`).
"""

from atlas.kernels.cuda import _numpy_compat  # noqa: F401  (before any kernel compiles)
from atlas.kernels.cuda.activations import (
    activation_backward,
    activation_forward,
    prelu_backward,
    prelu_forward,
    softmax_backward,
    softmax_forward,
)
from atlas.kernels.cuda.batchnorm import (
    batchnorm_backward,
    batchnorm_eval_forward,
    batchnorm_train_forward,
)
from atlas.kernels.cuda.conv import (
    col2im,
    conv2d_backward,
    conv2d_backward_chained,
    conv2d_forward,
    conv2d_forward_activated,
    conv_transpose2d_backward,
    conv_transpose2d_backward_chained,
    conv_transpose2d_forward,
    conv_transpose2d_forward_activated,
    conv_workspace_size,
    im2col,
)
from atlas.kernels.cuda.dense import (
    dense_backward_input,
    dense_backward_input_chained,
    dense_backward_params,
    dense_forward,
    dense_forward_activated,
)
from atlas.kernels.cuda.dropout import (
    dropout_backward,
    dropout_backward_chained,
    dropout_forward,
    random_uniform,
)
from atlas.kernels.cuda.embedding import embedding_backward, embedding_forward
from atlas.kernels.cuda.losses import (
    absolute_error,
    binary_cross_entropy,
    count_correct,
    huber,
    js_divergence,
    kl_divergence,
    sigmoid_binary_cross_entropy,
    softmax_cross_entropy,
    softmax_cross_entropy_soft,
    squared_error,
)
from atlas.kernels.cuda.merge import add, copy_columns, multiply, take_columns
from atlas.kernels.cuda.optimizers import (
    adadelta_step,
    adagrad_step,
    adam_step,
    clip_to_norm,
    fill,
    rmsprop_step,
    scale,
    sgd_step,
    squared_norm,
)
from atlas.kernels.cuda.pooling import (
    avgpool2d_backward,
    avgpool2d_backward_chained,
    avgpool2d_forward,
    global_avgpool_backward,
    global_avgpool_forward,
    maxpool2d_backward,
    maxpool2d_backward_chained,
    maxpool2d_forward,
)
from atlas.kernels.cuda.recurrent import (
    gru_backward,
    gru_forward,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
)

__all__ = [name for name in dir() if not name.startswith("_") and name != "atlas"]
