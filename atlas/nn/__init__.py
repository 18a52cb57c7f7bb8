"""Layers and models: the `Layer` contract, the layers, `Sequential` and the graph `Model`."""

from atlas.nn.activations import Activation, PReLU
from atlas.nn.conv import Conv2D, ConvTranspose2D
from atlas.nn.dense import Dense
from atlas.nn.embedding import Embedding
from atlas.nn.graph import Input, Model
from atlas.nn.layer import Layer
from atlas.nn.merge import Add, Concatenate, Multiply
from atlas.nn.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from atlas.nn.recurrent import GRU, LSTM, RNN
from atlas.nn.regularization import BatchNorm, BatchNorm2D, Dropout
from atlas.nn.reshape import Flatten, Reshape
from atlas.nn.sequential import Sequential, load

__all__ = ["Activation", "Add", "AvgPool2D", "BatchNorm", "BatchNorm2D", "Concatenate", "Conv2D",
           "ConvTranspose2D", "Dense", "Dropout", "Embedding", "Flatten", "GRU",
           "GlobalAvgPool2D", "Input", "LSTM", "Layer", "MaxPool2D", "Model", "Multiply",
           "PReLU", "RNN", "Reshape", "Sequential", "load"]
