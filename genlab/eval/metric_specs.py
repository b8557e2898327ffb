"""What each metric is to the rest of genlab: its key, direction, whether it needs a judge, how it is printed and
where it is shown. eval.json, the report's tables and charts, the verdict sentence and `genlab runs` read this list,
so adding a metric is its function in metrics.py, the line in evaluate.py that records it, and one spec here."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.eval import metrics as M

# Where a metric is shown (a spec's `shown`):
TABLE = "table"  # the report's per-dataset table of every metric
SUMMARY = "summary"  # the matched-capacity summary table at the top of the report
CHART = "chart"  # a comparison chart per dataset (grouped bars at matched capacity)
VERDICT = "verdict"  # the summary's one-sentence verdict (which family wins, by how much)
RUNS = "runs"  # a column of `genlab runs`
PLACES = (TABLE, SUMMARY, CHART, VERDICT, RUNS)


def number(value: float, digits: int = 3) -> str:
    """One value as every table and sentence prints it: `digits` significant digits below 1,000, whole numbers with
    thousands separators above ("1,451", not "1.45e+03"), so FIDs of a few thousand read at a glance."""
    return f"{value:,.0f}" if abs(value) >= min(1_000, 10**digits - 0.5) else f"{value:.{digits}g}"


@dataclass(frozen=True)
class MetricSpec:
    key: str  # the key in eval.json's "metrics" (and "intervals", "floor")
    label: str  # short column header
    name: str  # in sentences and chart titles
    lower_is_better: bool | None  # None: no better direction (a count, a diagnostic)
    needs_judge: bool  # measured in a judge's feature space or with its labels (absent for unlabeled folders)
    per_sampler: bool  # measured again for every code sampler (gmm_fid, flow_fid, ...); else the model's own
    shown: frozenset[str] = frozenset({TABLE})
    digits: int = 3  # significant digits of one value
    axis: str = ""  # a chart's y label, before "(lower is better)"; the name when empty
    bounds: tuple[float | None, float | None] = (None, None)  # the values it can take (a share: 0..1); an interval
    #   over seeds is clipped to them, so three seeds' t-interval never reads "recognisable [0.53, 1.02]"

    def ylabel(self) -> str:
        """The chart's y label: what is measured and which way is better."""
        way = {True: " (lower is better)", False: " (higher is better)", None: ""}[self.lower_is_better]
        return (self.axis or self.name) + way

    def format(self, value: float | None) -> str:
        """One value as the tables print it."""
        return "–" if value is None else number(value, self.digits)

    def clip(self, lo: float, hi: float) -> tuple[float, float]:
        """An interval held within the values the metric can take."""
        low, high = self.bounds
        return (lo if low is None else max(lo, low), hi if high is None else min(hi, high))


def _s(key: str, label: str, name: str, lower: bool | None, judge: bool, sampler: bool, *shown: str, **kw):
    """A shown spec: in the full table and in the places named."""
    return MetricSpec(key, label, name, lower, judge, sampler, frozenset((TABLE, *shown)), **kw)


SHARE = (0.0, 1.0)  # the bounds of a share of samples
AT_LEAST_0 = (0.0, None)  # a distance, a density, an energy ratio
RANKED = (SUMMARY, CHART, VERDICT, RUNS)  # where the headline metrics are shown

# In the order the tables show them.
METRICS: tuple[MetricSpec, ...] = (
    _s(M.FID, "FID", "FID", True, True, True, *RANKED, axis="FID in judge space", bounds=AT_LEAST_0),
    _s(M.KID, "KID", "KID", True, True, True, CHART, axis="KID in judge space"),
    _s(M.PRECISION, "precision", "precision", False, True, True, SUMMARY, CHART, bounds=SHARE),
    _s(M.RECALL, "recall", "recall", False, True, True, SUMMARY, CHART, VERDICT, bounds=SHARE),
    _s(M.RECOGNISABLE, "recognisable", "recognisable share", False, True, True, *RANKED, bounds=SHARE),
    _s(M.DENSITY, "density", "density", False, True, True, bounds=AT_LEAST_0),
    _s(M.COVERAGE, "coverage", "coverage", False, True, True, bounds=SHARE),
    _s(M.CLASSIFIER_SCORE, "classifier score", "classifier score", False, True, True),
    _s(M.CLASSES_COVERED, "classes covered", "classes covered", False, True, True),
    _s(M.CLASS_KL, "class KL", "class KL", True, True, True, bounds=AT_LEAST_0),
    _s(M.NEAR_DUPLICATES, "near-duplicates", "near-duplicate share", None, False, False, bounds=SHARE),
    _s(M.SHARPNESS, "sharpness", "sharpness", None, False, True, bounds=AT_LEAST_0),
    _s(M.RECON_MSE, "recon MSE", "reconstruction MSE", True, False, False, bounds=AT_LEAST_0),
    _s(M.RECON_SSIM, "recon SSIM", "reconstruction SSIM", False, False, False),
    _s(M.RECON_SHARPNESS, "recon sharpness", "reconstruction sharpness", None, False, False),
    _s(M.ELBO, "ELBO", "ELBO", False, False, False),
    _s(M.IWAE, "IWAE", "IWAE bound", False, False, False),
    _s(M.ACTIVE_UNITS, "active units", "active units", None, False, False),
)
# Recorded beside the shown ones, never tabled: KID's spread over subsets, the interpolation's smoothness, Stacked
# MNIST's mode counts (their own table, genlab.report.collapse).
RECORDED: tuple[MetricSpec, ...] = tuple(
    MetricSpec(*spec, shown=frozenset())
    for spec in (
        (M.KID_STD, "KID std", "KID's std over subsets", None, True, True),
        (M.INTERP_STEP, "interp step", "interpolation step distance", None, True, False),
        (M.INTERP_MAX_SHARE, "interp max step", "interpolation's largest step share", True, True, False),
        (M.MODES, "modes", "modes (of 1,000)", False, True, True),
        (M.MODES_RECOGNISED, "modes recognisable", "modes with every channel recognisable", False, True, True),
        (M.MODE_KL, "mode KL", "KL of the mode histogram to uniform", True, True, True),
    )
)
BY_KEY: dict[str, MetricSpec] = {s.key: s for s in (*METRICS, *RECORDED)}


def shown_in(place: str) -> tuple[MetricSpec, ...]:
    """The specs shown in one place, in table order."""
    if place not in PLACES:
        raise ValueError(f"unknown place {place!r}; one of {', '.join(PLACES)}")
    return tuple(s for s in METRICS if place in s.shown)


def spec_of(key: str, prefixes: tuple[str, ...] = ()) -> MetricSpec | None:
    """The spec of an eval.json metric key, a code sampler's prefixed key (gmm_fid) included; None if unknown."""
    if key in BY_KEY:
        return BY_KEY[key]
    for p in prefixes:
        if key.startswith(p) and key[len(p) :] in BY_KEY and BY_KEY[key[len(p) :]].per_sampler:
            return BY_KEY[key[len(p) :]]
    return None
