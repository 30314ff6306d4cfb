"""One colour per optimizer, the same in every figure and page, in one fixed order.

The eight colours of Okabe & Ito ("Color Universal Design", 2008), chosen to stay distinct for
readers with any common form of colour-blindness; the pure yellow is darkened so that it shows
on white.  An optimizer the suite does not ship (a submission) is drawn in grey.
"""

from __future__ import annotations

from collections.abc import Iterable

OPTIMIZER_COLORS: dict[str, str] = {
    "delta_gclip": "#D55E00",             # vermillion: the method under study
    "gclip": "#0072B2",                   # blue
    "delta_gclip_per_tensor": "#CC79A7",  # reddish purple
    "sgd": "#000000",                     # black
    "sgd_momentum": "#009E73",            # bluish green
    "adam": "#E69F00",                    # orange
    "adamw": "#B8A000",                   # yellow, darkened
    "clip_sgd": "#56B4E9",                # sky blue
}
OTHER = "#999999"


def order(names: Iterable[str]) -> list[str]:
    """`names` in the fixed legend order (the optimizer registry's), then others alphabetically."""
    names = set(names)
    return [n for n in OPTIMIZER_COLORS if n in names] + sorted(names - set(OPTIMIZER_COLORS))


def palette(names: Iterable[str]) -> dict[str, str]:
    """The colour of each name (for seaborn's `palette=` with `hue_order=order(names)`)."""
    return {name: OPTIMIZER_COLORS.get(name, OTHER) for name in order(names)}
