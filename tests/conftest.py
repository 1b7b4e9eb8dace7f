"""Shared test configuration: Agg backend and the Hypothesis profiles.

Profiles: ``ci`` (default; fast), ``dev`` (more examples) and ``deep`` (a long
search). Choose with ``HYPOTHESIS_PROFILE=deep python -m pytest``.
"""

import os

# The mesa modules multiply many small matrices; threaded BLAS only adds
# synchronisation there (and, on a busy 2-core machine, slowed training ~9x).
# Set before numpy is first imported; an explicit setting by the user wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

from hypothesis import HealthCheck, settings  # noqa: E402

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("ci", max_examples=30, derandomize=True, **_common)
settings.register_profile("dev", max_examples=100, **_common)
settings.register_profile("deep", max_examples=2000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
