"""One figure style for every pcml figure: readable fonts, a colour-blind-safe palette, and the
display names of method, model and parameter keys.

* Fonts: 11 pt text and 10 pt ticks/legends; figures are saved at :data:`DPI` = 100 and sized at
  most :data:`MAX_WIDTH_IN` inches wide, so a report page of 1100 CSS px shows them at (almost)
  their natural size and a 10 pt label is >= 13 px on screen at 100 % zoom.
* Colours: the Okabe-Ito palette (Okabe & Ito 2008), distinguishable under the common forms of
  colour blindness; every method also has its own line style, so a grey-scale print still
  separates them. The truth is black.
* Names: ``display_name("probconserv_anp") == "ProbConserv-ANP"``, ``param_label("u_star") ==
  "u*"``; unknown keys are returned unchanged (never an error in a figure).

Use :func:`figure_style` as a context manager around the plotting code (it sets matplotlib's
rcParams only inside the block).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = [
    "DPI",
    "MAX_WIDTH_IN",
    "OKABE_ITO",
    "display_name",
    "figure_style",
    "line_style",
    "param_label",
]

#: Resolution of saved figures (pixels per inch); with MAX_WIDTH_IN = 10.5 a figure is 1050 px.
DPI = 100
#: Widest figure, in inches (fits a 1100 px report column at its natural size).
MAX_WIDTH_IN = 10.5

#: Okabe-Ito colour-blind-safe palette.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#999999",
}

_NAMES = {
    "truth": "truth",
    "anp": "ANP",
    "softc_anp": "SoftC-ANP",
    "hardc_anp": "HardC-ANP",
    "probconserv_anp": "ProbConserv-ANP",
    "probconserv_anp_bounded": "Bounded ProbConserv-ANP",
    "probconserv_anp_noisy": "ProbConserv-ANP (σ_G > 0)",
    "ensemble": "Ensemble",
    "probconserv_ensemble": "ProbConserv-Ensemble",
    "gp": "GP",
    "probconserv_gp": "ProbConserv-GP",
    "fno": "FNO",
    "boon": "BOON",
    "boon_reference": "BOON (reference)",
    "boon_none": "BOON (no elimination)",
    "boon_extension": "BOON (extension)",
    "fno_bc": "FNO + boundary channels",
    "fno_soft": "FNO + soft boundary loss",
}

# (colour, line style) per key; the truth is black and solid.
_LINES = {
    "truth": (OKABE_ITO["black"], "-"),
    "anp": (OKABE_ITO["blue"], "-"),
    "softc_anp": (OKABE_ITO["purple"], "-."),
    "hardc_anp": (OKABE_ITO["green"], ":"),
    "probconserv_anp": (OKABE_ITO["vermillion"], "--"),
    "probconserv_anp_bounded": (OKABE_ITO["green"], "-"),
    "probconserv_anp_noisy": (OKABE_ITO["orange"], ":"),
    "ensemble": (OKABE_ITO["sky_blue"], "-"),
    "probconserv_ensemble": (OKABE_ITO["orange"], "--"),
    "gp": (OKABE_ITO["grey"], "-"),
    "probconserv_gp": (OKABE_ITO["purple"], "--"),
    "fno": (OKABE_ITO["vermillion"], "--"),
    "boon": (OKABE_ITO["blue"], "-"),
    "boon_reference": (OKABE_ITO["green"], ":"),
    "boon_none": (OKABE_ITO["purple"], "-."),
    "boon_extension": (OKABE_ITO["blue"], "-."),
    "fno_bc": (OKABE_ITO["orange"], "--"),
    "fno_soft": (OKABE_ITO["sky_blue"], ":"),
}

_PARAMS = {"u_star": "u*", "m": "m", "c": "c", "a": "a", "k": "k"}

_RC: dict[str, Any] = {
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.titlesize": 12,
    "lines.linewidth": 1.8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "savefig.dpi": DPI,
    "figure.dpi": DPI,
    "axes.prop_cycle": None,  # filled in figure_style (needs matplotlib's cycler)
}


def display_name(key: str) -> str:
    """The human name of a method / model key (``"probconserv_anp"`` → ``"ProbConserv-ANP"``)."""
    return _NAMES.get(key, key)


def param_label(name: str) -> str:
    """The symbol of a problem parameter (``"u_star"`` → ``"u*"``)."""
    return _PARAMS.get(name, name)


def line_style(key: str) -> dict[str, Any]:
    """``{"color", "ls", "label"}`` of a key for ``ax.plot(..., **line_style(key))``."""
    color, ls = _LINES.get(key, (OKABE_ITO["grey"], "-"))
    return {"color": color, "ls": ls, "label": display_name(key)}


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """matplotlib rcParams of the pcml style, set only inside the ``with`` block."""
    import matplotlib as mpl
    from cycler import cycler

    order = ("blue", "vermillion", "green", "orange", "purple", "sky_blue", "grey")
    rc = {**_RC, "axes.prop_cycle": cycler(color=[OKABE_ITO[c] for c in order])}
    with mpl.rc_context(rc):  # type: ignore[arg-type]
        yield
