"""aievo: evolution of self-designing AIs, and mesa-optimizers.

After K. D. Harris, "A mathematical theory of evolution for self-designing AIs"
(arXiv 2604.05142, 2026); the formulation is the package's own (see the docs).
"""

from ._version import __version__ as __version__
from .errors import AievoError as AievoError

__all__ = ["__version__", "AievoError"]
