"""Print pip constraints pinning every runtime dependency of pyproject.toml to its declared lower bound.

CI installs the package against these pins in a second virtual environment and runs the default
suite, so a lower bound that is false fails CI. Every runtime dependency must declare a ``>=`` bound.
"""

import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
for requirement in project["dependencies"]:
    m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([0-9][0-9A-Za-z.]*)\s*(,.*)?", requirement)
    if m is None:
        sys.exit(f"runtime dependency {requirement!r} declares no '>=' lower bound")
    print(f"{m[1]}=={m[3]}")
