"""Figures: image grids (no torchvision), titled PNGs, recon pairs, bar charts with CIs, curves.

Images are float tensors in [-1, 1], (N,C,H,W) with C = 1 (grey) or 3 (RGB). Grids are upscaled with
nearest neighbour so a 28x28 digit stays crisp and readable. Charts use
matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import io
import math
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from genlab.store.runs import atomic_write

SCALE = 3  # nearest-neighbour upscaling of each 28x28 image
PAD = 2  # pixels between cells (at the upscaled size)
BG = 255  # white page around grids and titles


def grid(x: torch.Tensor, nrow: int = 8, scale: int = SCALE, pad: int = PAD) -> Image.Image:
    """(N,C,H,W) in [-1,1] -> a grid image (grey for one channel, RGB for three), nrow images per row, with dark
    gutters."""
    imgs = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy().transpose(0, 2, 3, 1)
    n, h, w, channels = imgs.shape
    if channels == 1:
        imgs = imgs[..., 0]
    ncol = nrow
    nrows = max(1, math.ceil(n / ncol))
    hs, ws = h * scale, w * scale
    out = np.full((nrows * (hs + pad) + pad, ncol * (ws + pad) + pad, *imgs.shape[3:]), 40, np.uint8)
    for i in range(n):
        r, c = divmod(i, ncol)
        big = imgs[i].repeat(scale, 0).repeat(scale, 1)
        out[pad + r * (hs + pad) : pad + r * (hs + pad) + hs, pad + c * (ws + pad) : pad + c * (ws + pad) + ws] = big
    return Image.fromarray(out, mode="L" if channels == 1 else "RGB")


def font(size: int = 15) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def titled(img: Image.Image, title: str, size: int = 15) -> Image.Image:
    """The image under a one-line title band (wrapped when longer than the image is wide)."""
    f = font(size)
    words, lines, line = title.split(), [], ""
    draw = ImageDraw.Draw(img)
    for word in words:
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=f) > img.width - 8 and line:
            lines.append(line)
            line = word
        else:
            line = trial
    lines.append(line)
    band = (size + 6) * len(lines) + 6
    mode = "RGB" if img.mode == "RGB" else "L"
    out = Image.new(mode, (img.width, img.height + band), (BG,) * 3 if mode == "RGB" else BG)
    d = ImageDraw.Draw(out)
    for i, text in enumerate(lines):
        d.text((4, 4 + i * (size + 6)), text, fill=(0,) * 3 if mode == "RGB" else 0, font=f)
    out.paste(img.convert(mode), (0, band))
    return out


def side_by_side(images: Sequence[Image.Image], labels: Sequence[str], gap: int = 12) -> Image.Image:
    """Images next to each other, each with a small label above (e.g. inputs | reconstructions)."""
    labelled = [titled(im, lab, size=13) for im, lab in zip(images, labels)]
    w = sum(im.width for im in labelled) + gap * (len(labelled) - 1)
    h = max(im.height for im in labelled)
    mode = "RGB" if any(im.mode == "RGB" for im in labelled) else "L"
    out = Image.new(mode, (w, h), (BG,) * 3 if mode == "RGB" else BG)
    x = 0
    for im in labelled:
        out.paste(im.convert(mode), (x, 0))
        x += im.width + gap
    return out


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")  # optimize=True tripled the save time for a few % smaller files
    return buf.getvalue()


def save_png(img: Image.Image, path: Path) -> Path:
    atomic_write(Path(path), png_bytes(img))
    return Path(path)


# ---------------------------------------------------------------- matplotlib charts


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    # every label is plain text: names and values from a study folder may hold '$...$', which mathtext would
    # parse (and fail on, e.g. $\notacommand{x}$) instead of printing
    matplotlib.rcParams["text.parse_math"] = False
    matplotlib.rcParams["text.usetex"] = False
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    atomic_write(Path(path), buf.getvalue())
    return Path(path)


# larger magnitudes (a diverged loss, a damaged metrics.jsonl) overflow matplotlib's tick arithmetic; NaN and
# infinities fail the test too, so they are left out of the line rather than crash the figure
PLOTTABLE = 1e100


def curves_figure(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    panels: list[list[str]],
    title: str,
    ylabels: list[str],
    xlabel: str = "step",
):
    """Line plots as a matplotlib figure: one panel per group of series names; series maps name -> (x, y)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.4), squeeze=False)
    for ax, names, ylabel in zip(axes[0], panels, ylabels):
        for name in names:
            points = [(x, y) for x, y in zip(*series[name]) if abs(y) <= PLOTTABLE] if name in series else []
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, label=name, linewidth=1.2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no data logged", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def curves(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    panels: list[list[str]],
    title: str,
    ylabels: list[str],
    path: Path,
    xlabel: str = "step",
) -> Path:
    """Line plots saved as a PNG (see curves_figure)."""
    return save_figure(curves_figure(series, panels, title, ylabels, xlabel), path)


COLORS = [  # distinct for up to 10 series (a study's arms and each one's samplers), colour-blind-safe order first
    "#d1495b",
    "#00798c",
    "#edae49",
    "#66a182",
    "#2e4057",
    "#8d96a3",
    "#7b2cbf",
    "#f08a4b",
    "#3a86ff",
    "#6b4226",
]
MARKERS = "osD^vP*X"  # one per point of a colour group (a family's samplers)


def scatter(
    points: list[tuple[str, str, float, tuple[float, float, float] | None]],
    title: str,
    xlabel: str,
    ylabel: str,
    path: Path,
) -> Path:
    """(label, group, x, (mean, lo, hi)) points on a log x axis with vertical interval bars: one colour per group,
    one marker per point of a group, every label in the legend outside the axes (nothing printed on the plot
    can overlap)."""
    plt = _plt()
    shown = [p for p in points if p[3] is not None and 0 < p[2] <= PLOTTABLE and abs(p[3][0]) <= PLOTTABLE]
    # the legend stands beside the axes and must end above their bottom, or it hides the x label (21 entries of
    # the full lab study did): two columns past 12 entries, and the figure as tall as the legend's rows
    ncol = 1 if len(shown) <= 12 else 2
    rows = -(-len(shown) // ncol)
    fig, ax = plt.subplots(figsize=(7.6 + 2.4 * (ncol - 1), max(4.2, 1.6 + 0.21 * rows)))
    groups: dict[str, int] = {}
    seen: dict[str, int] = {}
    for label, group, x, y in shown:
        color = COLORS[groups.setdefault(group, len(groups)) % len(COLORS)]
        marker = MARKERS[seen.get(group, 0) % len(MARKERS)]
        seen[group] = seen.get(group, 0) + 1
        mean, lo, hi = y
        ax.errorbar(
            [x],
            [mean],
            yerr=[[max(mean - lo, 0)], [max(hi - mean, 0)]],
            fmt=marker,
            color=color,
            capsize=3,
            markersize=7,
            label=label,
        )
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 1-2-5 ticks: a span under a decade is labelled
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # plain numbers: math text is off
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    chars = int(fig.get_figwidth() * 13)
    ax.set_title("\n".join(textwrap.fill(line, width=chars) for line in title.split("\n")), fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, ncol=ncol)
    else:
        ax.text(0.5, 0.5, "no measured points", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return save_figure(fig, path)


def bar_label(y: float) -> str:
    """A bar's value as few characters as reads right: thousands in full ("3,469", not "3.47e+03", which was wide
    enough to collide with its neighbour's label), else three significant digits."""
    return f"{y:,.0f}" if 1_000 <= abs(y) < 100_000 else f"{y:.3g}"


def bar_figure(
    groups: list[str],
    bars: dict[str, list[tuple[float, float, float] | None]],
    title: str,
    ylabel: str,
    floor: float | None = None,
    floor_label: str = "real vs real",
    spreads: dict[str, list[tuple[float, float] | None]] | None = None,
):
    """The grouped-bar chart as a matplotlib figure (grouped_bars saves it): bars maps a series name to one
    (mean, lo, hi) or None per group. The width grows with the bars, value labels alternate height where
    neighbours would touch, and the legend sits outside the axes. `spreads` (same shape, (min, max) or None)
    marks the judges' spread on each bar with two small diamonds."""
    plt = _plt()
    k = len(bars)
    fig, ax = plt.subplots(figsize=(max(6.4, 1.0 + 0.55 * k * len(groups)), 4.0))
    width = 0.8 / max(k, 1)
    colors = COLORS
    # the axis spans every mean and upper bound (a damaged eval.json can put a mean outside its own interval) and
    # the floor's line (real images' recognisable share sits above every model's); halved float max keeps 1.22 * top
    # finite
    top = min(
        max(
            [
                *(max(v[0], v[2]) for vs in bars.values() for v in vs if v is not None),
                *(sp[1] for vs in (spreads or {}).values() for sp in vs if sp is not None),
                *([floor] if floor is not None and math.isfinite(floor) else []),
            ],
            default=1.0,
        ),
        sys.float_info.max / 2,
    )
    for i, (name, values) in enumerate(bars.items()):
        xs, ys, err_lo, err_hi, tops = [], [], [], [], []
        spread = (spreads or {}).get(name, [])
        for g, v in enumerate(values):
            if v is None:
                ax.text(g + (i - (k - 1) / 2) * width, 0, "n/a", ha="center", va="bottom", fontsize=7)
                continue
            mean, lo, hi = v
            xs.append(g + (i - (k - 1) / 2) * width)
            ys.append(mean)
            err_lo.append(max(mean - lo, 0.0))
            err_hi.append(max(hi - mean, 0.0))
            # the value label goes above whatever is drawn on the bar: its interval and the judges' diamonds
            tops.append(max(mean + err_hi[-1], spread[g][1] if g < len(spread) and spread[g] is not None else mean))
        ax.bar(xs, ys, width, yerr=[err_lo, err_hi], capsize=3, label=name, color=colors[i % len(colors)])
        marks = [
            (g + (i - (k - 1) / 2) * width + width * 0.28, sp)
            for g, sp in enumerate((spreads or {}).get(name, []))
            if sp is not None and values[g] is not None
        ]
        for x, (lo, hi) in marks:
            ax.plot(
                [x, x],
                [lo, hi],
                color="black",
                linewidth=0.8,
                marker="D",
                markersize=2.5,
                label="judges: min, max" if (i, x) == (0, marks[0][0]) else None,
            )
        for x, y, above in zip(xs, ys, tops):
            label_y = min(max(above + 0.02 * top * (1 + 2 * (i % 2)), 0.0), 1.15 * top)
            # clipped to the axes, so a value off the chart cannot stretch the saved figure past any size
            ax.text(x, label_y, bar_label(y), ha="center", va="bottom", fontsize=7, clip_on=True)
    if floor is not None:
        ax.axhline(floor, color="black", linestyle="--", linewidth=1, label=f"{floor_label} ({floor:.3g})")
    ax.set_ylim(0, top * 1.22 if top > 0 else 1)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8)
    ax.set_ylabel(ylabel)
    chars = int(fig.get_figwidth() * 13)  # each title line wrapped on its own: breaks stay where the caller put them
    ax.set_title("\n".join(textwrap.fill(line, width=chars) for line in title.split("\n")), fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    return fig


def grouped_bars(
    groups: list[str],
    bars: dict[str, list[tuple[float, float, float] | None]],
    title: str,
    ylabel: str,
    path: Path,
    floor: float | None = None,
    floor_label: str = "real vs real",
    spreads: dict[str, list[tuple[float, float] | None]] | None = None,
) -> Path:
    """Grouped bars with error bars, saved as a PNG (see bar_figure)."""
    return save_figure(bar_figure(groups, bars, title, ylabel, floor, floor_label, spreads), path)


def pixel_spread(path: Path) -> float:
    """Standard deviation of a PNG's pixels: a blank (one-colour) figure has 0."""
    with Image.open(path) as im:
        return float(np.asarray(im.convert("L"), dtype=np.float32).std())
