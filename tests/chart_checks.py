"""Chart checks the tests share: which drawn texts of a matplotlib figure run into each other (a chart whose
labels overlap is not readable at a glance; tests/test_report.py checks every chart kind)."""

from __future__ import annotations


def drawn_texts(fig) -> list:
    """The texts a reader sees: tick labels inside each axis's view, axis labels, titles, annotations, legends."""
    out = [fig._suptitle] if fig._suptitle is not None else []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            out += [tick.label1 for tick in axis.get_major_ticks() if lo <= tick.get_loc() <= hi]
            out.append(axis.label)
        out += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        if ax.get_legend() is not None:
            out += ax.get_legend().get_texts()
    return [t for t in out if t.get_visible() and t.get_text().strip()]


def text_overlaps(fig) -> list[tuple[str, str]]:
    """Pairs of drawn texts whose boxes intersect: a chart whose labels run into each other is not readable at a
    glance (tests/test_report.py checks every chart kind)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in drawn_texts(fig)]
    out = []
    for i, (ta, a) in enumerate(boxes):
        for tb, b in boxes[i + 1 :]:
            inter = a.intersection(a, b)
            if inter is not None and inter.width > 1 and inter.height > 1:
                out.append((ta, tb))
    return out
