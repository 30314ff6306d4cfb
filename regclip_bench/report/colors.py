"""One colour per optimizer, the same in every figure and page, in one fixed order.

A built-in optimizer's colour is on its registry entry (Okabe & Ito's eight, "Color Universal Design",
2008: distinct for readers with any common form of colour-blindness).  Every other name — a plug-in,
a submitted result — takes the next colour of an extension that stays colour-blind safe, Paul Tol's
"muted" scheme (2021), in name order among the other names of the store being drawn (`use`);
past its nine, grey.  Drawing never imports a plug-in: only names are read.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..optim.registry import OPTIMIZERS

OPTIMIZER_COLORS: dict[str, str] = {name: entry.color for name, entry in OPTIMIZERS.items()}
EXTENSION = ("#332288", "#882255", "#999933", "#117733", "#AA4499", "#44AA99", "#CC6677", "#88CCEE", "#DDCC77")
OTHER = "#999999"
_others: set[str] = set()


def use(names: Iterable[str]) -> None:
    """The optimizer names of the store about to be drawn: its other (non-built-in) names take the
    extension's colours in name order — the same in every figure and page drawn from it, whatever was
    drawn before in this process."""
    _others.clear()
    _others.update(n for n in names if n not in OPTIMIZER_COLORS)


def of(name: str) -> str:
    if name in OPTIMIZER_COLORS:
        return OPTIMIZER_COLORS[name]
    _others.add(name)   # drawn without `use` (a hand-made table): it joins the others in name order
    rank = sorted(_others).index(name)
    return EXTENSION[rank] if rank < len(EXTENSION) else OTHER


def order(names: Iterable[str]) -> list[str]:
    """`names` in the fixed legend order (the optimizer registry's), then others alphabetically."""
    names = set(names)
    return [n for n in OPTIMIZER_COLORS if n in names] + sorted(names - set(OPTIMIZER_COLORS))


def palette(names: Iterable[str]) -> dict[str, str]:
    """The colour of each name (for seaborn's `palette=` with `hue_order=order(names)`)."""
    return {name: of(name) for name in order(names)}
