"""Testing helpers for aievo users: public Hypothesis strategies.

Import them explicitly (``from aievo.testing import strategies``); neither
``import aievo`` nor ``import aievo.testing`` imports Hypothesis, so it is only
needed by those who use the strategies.
"""

__all__ = ["strategies"]
