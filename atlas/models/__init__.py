"""The architectures the chapters train: Mazur's 2-2-2 network, multi-layer perceptrons,
convolutional networks (LeNet-5, the two-convolution network, VGG-16), recurrent models
(the "hello" RNN, the character language model), residual networks and visual question
answering (`resnet`, `vqa`), and the unsupervised chapter's autoencoders, stacked denoising
autoencoder and GANs (`autoencoder`, `sdae`, `gan`)."""

from atlas.models import autoencoder, char_lm, gan, mazur, sdae
from atlas.models.cnn import lenet5, two_conv_net, vgg16
from atlas.models.mlp import mlp

__all__ = ["autoencoder", "char_lm", "gan", "lenet5", "mazur", "mlp", "sdae", "two_conv_net",
           "vgg16"]
