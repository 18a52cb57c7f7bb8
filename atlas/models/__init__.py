"""The architectures the chapters train: Mazur's 2-2-2 network, multi-layer perceptrons,
convolutional networks (LeNet-5, the two-convolution network, VGG-16), recurrent models
(the "hello" RNN, the character language model)."""

from atlas.models import char_lm, mazur
from atlas.models.cnn import lenet5, two_conv_net, vgg16
from atlas.models.mlp import mlp

__all__ = ["char_lm", "lenet5", "mazur", "mlp", "two_conv_net", "vgg16"]
