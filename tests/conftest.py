"""Shared test configuration: Agg backend and the Hypothesis profiles.

Profiles: ``ci`` (default; fast), ``dev`` (more examples) and ``deep`` (a long
search). Choose with ``HYPOTHESIS_PROFILE=deep python -m pytest``.
"""

import os

import matplotlib

matplotlib.use("Agg")

from hypothesis import HealthCheck, settings  # noqa: E402

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("ci", max_examples=30, derandomize=True, **_common)
settings.register_profile("dev", max_examples=100, **_common)
settings.register_profile("deep", max_examples=2000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
