"""Reading plotted data back from a figure: artists are found by the ``gid`` the figure code set."""

import numpy as np


def artists(fig, gid):
    """Every artist of ``fig`` with this gid (at least one)."""
    found = fig.findobj(lambda a: a.get_gid() == gid)
    assert found, f"no artist with gid {gid!r}"
    return found


def line(fig, gid):
    """(x, y) of the one line with this gid."""
    (ln,) = artists(fig, gid)
    return np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)
