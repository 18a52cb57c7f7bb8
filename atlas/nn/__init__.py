"""Layers and models: the `Layer` contract, the layers, and `Sequential`."""

from atlas.nn.activations import Activation, PReLU
from atlas.nn.conv import Conv2D, ConvTranspose2D
from atlas.nn.dense import Dense
from atlas.nn.embedding import Embedding
from atlas.nn.layer import Layer
from atlas.nn.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from atlas.nn.recurrent import GRU, LSTM, RNN
from atlas.nn.regularization import BatchNorm, BatchNorm2D, Dropout
from atlas.nn.reshape import Flatten
from atlas.nn.sequential import Sequential, load

__all__ = ["Activation", "AvgPool2D", "BatchNorm", "BatchNorm2D", "Conv2D", "ConvTranspose2D",
           "Dense", "Dropout", "Embedding", "Flatten", "GRU", "GlobalAvgPool2D", "LSTM", "Layer",
           "MaxPool2D", "PReLU", "RNN", "Sequential", "load"]
