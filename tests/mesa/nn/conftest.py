"""JAX tests: skipped as a whole when the optional ``jax`` extra is missing."""

import pytest

pytest.importorskip("jax")
pytest.importorskip("optax")


@pytest.fixture
def x64():
    """Run the test body with JAX float64 enabled."""
    import jax

    with jax.enable_x64(True):
        yield
