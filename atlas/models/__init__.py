"""The architectures the chapters train: Mazur's 2-2-2 network, multi-layer perceptrons."""

from atlas.models import mazur
from atlas.models.mlp import mlp

__all__ = ["mazur", "mlp"]
