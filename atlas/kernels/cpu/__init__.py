"""``@njit`` kernels, one module per concept; `cuda` mirrors them."""

from atlas.kernels.cpu.activations import (
    activation_backward,
    activation_forward,
    prelu_backward,
    prelu_forward,
    softmax_backward,
    softmax_forward,
)
from atlas.kernels.cpu.batchnorm import (
    batchnorm_backward,
    batchnorm_eval_forward,
    batchnorm_train_forward,
)
from atlas.kernels.cpu.conv import (
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
from atlas.kernels.cpu.dense import (
    dense_backward_input,
    dense_backward_input_chained,
    dense_backward_params,
    dense_forward,
    dense_forward_activated,
)
from atlas.kernels.cpu.dropout import (
    dropout_backward,
    dropout_backward_chained,
    dropout_forward,
    random_uniform,
)
from atlas.kernels.cpu.embedding import embedding_backward, embedding_forward
from atlas.kernels.cpu.losses import (
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
from atlas.kernels.cpu.merge import add, copy_columns, multiply, take_columns
from atlas.kernels.cpu.optimizers import (
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
from atlas.kernels.cpu.pooling import (
    avgpool2d_backward,
    avgpool2d_backward_chained,
    avgpool2d_forward,
    global_avgpool_backward,
    global_avgpool_forward,
    maxpool2d_backward,
    maxpool2d_backward_chained,
    maxpool2d_forward,
)
from atlas.kernels.cpu.recurrent import (
    gru_backward,
    gru_forward,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
)

__all__ = [name for name in dir() if not name.startswith("_") and name != "atlas"]
