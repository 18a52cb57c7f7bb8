"""Layers and models: the `Layer` contract, the layers, and `Sequential`."""

from atlas.nn.activations import Activation, PReLU
from atlas.nn.dense import Dense
from atlas.nn.layer import Layer
from atlas.nn.regularization import BatchNorm, Dropout
from atlas.nn.reshape import Flatten
from atlas.nn.sequential import Sequential, load

__all__ = ["Activation", "BatchNorm", "Dense", "Dropout", "Flatten", "Layer", "PReLU",
           "Sequential", "load"]
