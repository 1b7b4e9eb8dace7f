"""The README's plain install (no ``jax`` extra) draws every figure made from shipped checkpoints.

A subprocess blocks ``import jax`` (and jaxlib, optax, equinox) with a ``sys.meta_path`` finder
that raises ImportError, as on a machine without the extra, and draws each such figure with
``quick=True``: the trained transformers then run in the numpy reference forward
(:mod:`aievo.mesa.nn.reference`).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import aievo.figures as F

ROOT = Path(__file__).resolve().parents[1]
BLOCKED = ("jax", "jaxlib", "optax", "equinox")

_SCRIPT = r"""
import json, sys
BLOCKED = {blocked!r}


class NoJax:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is blocked: the plain install has no jax extra")
        return None


sys.meta_path.insert(0, NoJax())
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import aievo.figures as F

failed = {{}}
for name in {names!r}:
    try:
        plt.close(F.make(name, quick=True))
    except Exception as exc:  # report every figure, not only the first failure
        failed[name] = f"{{type(exc).__name__}}: {{exc}}"
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print(json.dumps({{"failed": failed, "leaked": leaked}}))
"""


def checkpoint_figures() -> list[str]:
    """Figures drawn from shipped checkpoints (they take ``retrain``), plus the evolving and Friedman groups."""
    return [n for n in F.REGISTRY if F.accepts_retrain(n) or F.get(n).group in ("evolving", "friedman2023")]


def test_checkpoint_figures_draw_with_jax_blocked():
    names = checkpoint_figures()
    assert {"akyurek2022_probes", "vonoswald2023b_fig3", "evolving_mesa_transformers"} <= set(names)
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", _SCRIPT.format(blocked=BLOCKED, names=names)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["failed"] == {}, report["failed"]
    assert report["leaked"] == []


def test_the_blocker_really_blocks_jax():
    """The same finder makes ``import jax`` fail (so the test above is not vacuous)."""
    code = _SCRIPT.split("import matplotlib")[0] + "\ntry:\n    import jax\nexcept ImportError:\n    print('blocked')\n"
    proc = subprocess.run([sys.executable, "-c", code.format(blocked=BLOCKED, names=[])], capture_output=True,
                          text=True, timeout=120)
    assert proc.stdout.strip() == "blocked", proc.stderr
