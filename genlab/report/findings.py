"""Measured answers to the study's questions and a check of its stated claims, from aggregated metrics.

Pure functions of `compare.Setting`s (no I/O): the report renders what these return, and a test
feeds synthetic settings (e.g. a GAN that loses) to see a claim marked contradicted.

Decision rule for "A < B": supported when A's interval lies wholly below B's; contradicted when wholly
above; otherwise inconclusive. "Flat": every pair of intervals overlaps, or the means differ by less
than 10% of their mean. Trends: the end points (smallest vs largest z) must separate, and the middle
must not reverse the direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genlab.eval import metric_specs
from genlab.eval import metrics as M
from genlab.eval.metric_specs import number
from genlab.report import collapse, sensitivity
from genlab.report.compare import label as arm_label
from genlab.study.studies import SEED_ROLES

SUPPORTED, CONTRADICTED, INCONCLUSIVE, MISSING = "supported", "contradicted", "inconclusive", "not measured"
Stat = tuple[float, float, float]


@dataclass
class Claim:
    text: str
    verdict: str
    evidence: str


def below(a: Stat | None, b: Stat | None) -> str:
    """Verdict for 'a < b' from two (mean, lo, hi) intervals."""
    if a is None or b is None:
        return MISSING
    if a[2] < b[1]:
        return SUPPORTED
    if a[1] > b[2]:
        return CONTRADICTED
    return INCONCLUSIVE


def combine(verdicts: list[str]) -> str:
    """All supported -> supported; any contradicted -> contradicted; else inconclusive (or not measured)."""
    if not verdicts or all(v == MISSING for v in verdicts):
        return MISSING
    if any(v == CONTRADICTED for v in verdicts):
        return CONTRADICTED
    if all(v == SUPPORTED for v in verdicts):
        return SUPPORTED
    return INCONCLUSIVE


def flat(stats: list[Stat | None], tolerance: float = 0.10) -> str:
    s = [x for x in stats if x is not None]
    if len(s) < 2:
        return MISSING
    means = [x[0] for x in s]
    spread = (max(means) - min(means)) / max(abs(sum(means) / len(means)), 1e-12)
    overlap = all(a[1] <= b[2] and b[1] <= a[2] for a in s for b in s)
    if overlap or spread < tolerance:
        return SUPPORTED
    separated = (
        max(means) - min(means) > 0 and below(min(s, key=lambda x: x[0]), max(s, key=lambda x: x[0])) == SUPPORTED
    )
    return CONTRADICTED if separated and spread >= 2 * tolerance else INCONCLUSIVE


def trend(stats: list[Stat | None], increasing: bool) -> str:
    """Does the metric move in one direction as z grows (first vs last separated, no reversal of means)?"""
    if any(x is None for x in stats) or len(stats) < 2:
        return MISSING
    first, last = stats[0], stats[-1]
    means = [x[0] for x in stats]
    up = below(first, last)
    down = below(last, first)
    monotone_up = all(a <= b for a, b in zip(means, means[1:]))
    monotone_down = all(a >= b for a, b in zip(means, means[1:]))
    if increasing:
        if up == SUPPORTED and monotone_up:
            return SUPPORTED
        return CONTRADICTED if down == SUPPORTED else INCONCLUSIVE
    if down == SUPPORTED and monotone_down:
        return SUPPORTED
    return CONTRADICTED if up == SUPPORTED else INCONCLUSIVE


def fmt_stats(label: str, zs, stats: list[Stat | None], digits: int = 3) -> str:
    parts = []
    for z, s in zip(zs, stats):
        parts.append(f"z{z} {fmt_interval(s, digits)}")
    return f"{label}: " + ", ".join(parts)


def arm(settings: dict, dataset: str, model: str, zs) -> list:
    return [settings.get((dataset, model, z)) for z in zs]


def stats_of(arm_settings: list, key: str) -> list[Stat | None]:
    return [s.stat(key) if s is not None else None for s in arm_settings]


def ratio_to_floor(setting, key: str = M.FID) -> Stat | None:
    """A metric divided by the dataset's real-vs-real floor, so datasets with different judges can be compared."""
    st = setting.stat(key) if setting is not None else None
    if st is None or not setting.evals or not setting.evals[0].get("floor", {}).get(key):
        return None
    f = setting.evals[0]["floor"][key]
    return (st[0] / f, st[1] / f, st[2] / f)


def roles(study: dict[str, Any]) -> dict[str, str]:
    """Which arm plays the GAN, the VAE and the hybrid of the seed study's questions (study.json's `roles`; a
    study folder written before roles were recorded: the seed study's own arm names)."""
    given = study.get("roles")
    named = given if isinstance(given, dict) else SEED_ROLES
    return {role: arm for role, arm in named.items() if arm in study["arms"]}


def role_arms(study: dict[str, Any]) -> tuple[str, str, str, tuple, tuple, tuple]:
    """(GAN arm, VAE arm, hybrid arm, and their latent sizes); an absent role is '' with no sizes."""
    r = roles(study)
    g, v, h = r.get("gan", ""), r.get("vae", ""), r.get("hybrid", "")
    arms = study["arms"]
    return g, v, h, tuple(arms.get(g, ())), tuple(arms.get(v, ())), tuple(arms.get(h, ()))


def check_claims(study: dict[str, Any], settings: dict) -> list[Claim]:
    """The study's conclusions, each marked supported / contradicted / inconclusive with its evidence."""
    gan, vae, _, gz, vz, _ = role_arms(study)
    dss = study["datasets"]
    claims = []

    verdicts, ev = [], []
    for ds in dss:
        g, v = stats_of(arm(settings, ds, gan, gz), M.FID), stats_of(arm(settings, ds, vae, vz), M.FID)
        verdicts += [below(a, b) for a, b in zip(g, v)]
        ev.append(
            f"{ds}: "
            + "; ".join(
                f"GAN z{a} {x[0]:.3g} vs VAE z{b} {y[0]:.3g}" if x and y else f"z{a}/z{b} –"
                for a, b, x, y in zip(gz, vz, g, v)
            )
        )
    claims.append(
        Claim(
            "GANs reach lower FID than VAEs at every matched capacity on both datasets",
            combine(verdicts),
            " | ".join(ev),
        )
    )

    verdicts = [flat(stats_of(arm(settings, ds, gan, gz), M.FID)) for ds in dss]
    claims.append(
        Claim(
            "GAN FID is roughly flat across z",
            combine(verdicts),
            " | ".join(fmt_stats(ds, gz, stats_of(arm(settings, ds, gan, gz), M.FID)) for ds in dss),
        )
    )

    parts, verdicts = [], []
    for ds in dss:
        st = stats_of(arm(settings, ds, vae, vz), M.FID)
        verdicts.append(trend(st, increasing=True) if ds == "mnist" else flat(st))
        parts.append(fmt_stats(ds, vz, st))
    claims.append(
        Claim(
            "VAE FID rises with z on MNIST (study: 0.14, 0.24, 0.28) and is flat on Fashion-MNIST",
            combine(verdicts),
            " | ".join(parts),
        )
    )

    verdicts, parts = [], []
    for ds in dss:
        mse = stats_of(arm(settings, ds, vae, vz), M.RECON_MSE)
        verdicts.append(trend(mse, increasing=False))
        parts.append(fmt_stats(f"{ds} recon MSE", vz, mse))
    claims.append(Claim("VAE reconstructions sharpen as z grows", combine(verdicts), " | ".join(parts)))

    verdicts, parts = [], []
    for ds in dss:
        prec = stats_of(arm(settings, ds, vae, vz), M.PRECISION)
        fid = stats_of(arm(settings, ds, vae, vz), M.FID)
        verdicts.append(combine([trend(prec, increasing=True), trend(fid, increasing=False)]))
        parts.append(fmt_stats(f"{ds} sample precision", vz, prec) + "; " + fmt_stats("FID", vz, fid))
    claims.append(
        Claim(
            "VAE random samples become more coherent as z grows (precision up, FID down)",
            combine(verdicts),
            " | ".join(parts),
        )
    )

    verdicts, parts = [], []
    for ds in dss:
        a = arm(settings, ds, gan, gz)
        fid = stats_of(a, M.FID)
        verdicts.append(trend(fid, increasing=False))
        spread = [stab_mean(s, "fid_epoch_rel_spread") for s in a]
        parts.append(
            fmt_stats(f"{ds} GAN FID", gz, fid)
            + "; late-epoch FID spread "
            + ", ".join(f"z{z} {x:.3g}" if x is not None else f"z{z} –" for z, x in zip(gz, spread))
        )
    claims.append(
        Claim("Larger z makes GAN samples more coherent and the GAN more stable", combine(verdicts), " | ".join(parts))
    )

    verdicts, parts = [], []
    for ds in dss:
        a = arm(settings, ds, gan, gz)
        rec, cov = stats_of(a, M.RECALL), stats_of(a, M.COVERAGE)
        cls = stats_of(a, M.CLASSES_COVERED)
        recog = stats_of(a, M.RECOGNISABLE)
        floor_cov = a[0].evals[0].get("floor", {}).get(M.COVERAGE) if a and a[0] is not None and a[0].evals else None
        if not a or cls[0] is None or cov[0] is None:
            verdicts.append(MISSING)
        elif recog[0] is not None and recog[0][0] < 0.5:
            verdicts.append(INCONCLUSIVE)  # mostly junk: missing classes say "garbage", not "collapse"
            parts.append(
                f"{ds} GAN z{gz[0]}: only {recog[0][0]:.0%} of samples recognisable, so missing classes "
                "cannot be told from junk"
            )
        else:
            # partial collapse at the smallest z: classes missing, or coverage under half the real-vs-real floor
            collapsed = cls[0][0] < n_classes(a[0]) or (floor_cov is not None and cov[0][2] < 0.5 * floor_cov)
            fewer_classes_later = cls[-1] is not None and cls[-1][0] < cls[0][0]
            reduced = CONTRADICTED if fewer_classes_later else trend(cov, increasing=True)
            verdicts.append(combine([SUPPORTED if collapsed else CONTRADICTED, reduced]))
        parts.append(
            fmt_stats(f"{ds} GAN coverage", gz, cov)
            + "; "
            + fmt_stats("recall", gz, rec)
            + "; "
            + fmt_stats("classes covered", gz, cls, 2)
        )
    claims.append(
        Claim(
            "The GAN at z = 32 shows partial mode collapse that larger z reduces", combine(verdicts), " | ".join(parts)
        )
    )

    if len(dss) >= 2 and "mnist" in dss and "fashion-mnist" in dss:
        verdicts, parts = [], []
        for model, zs in ((gan, gz), (vae, vz)):
            for z in zs:
                a = ratio_to_floor(settings.get(("mnist", model, z)))
                b = ratio_to_floor(settings.get(("fashion-mnist", model, z)))
                verdicts.append(below(a, b))
                if a and b:
                    parts.append(f"{arm_label(model)} z{z}: FID/floor MNIST {a[0]:.3g} vs Fashion {b[0]:.3g}")
        claims.append(
            Claim(
                "Fashion-MNIST is harder than MNIST for both models (FID relative to each dataset's "
                "real-vs-real floor)",
                combine(verdicts),
                "; ".join(parts),
            )
        )
    return claims


JUDGES_DISAGREE = "inconclusive (judges disagree)"


def check_claims_under_judges(study: dict[str, Any], views: list[dict]) -> list[Claim]:
    """The claims check under every judge of the ensemble (`views`: the settings as judge 0, 1, ... measured
    them): a claim keeps its verdict only when every judge gives the same one, else it is JUDGES_DISAGREE."""
    per = [check_claims(study, v) for v in views]
    if len(per) == 1:
        return per[0]
    out = []
    for claims in zip(*per):
        first_claim, verdicts = claims[0], [c.verdict for c in claims]
        if len(set(verdicts)) == 1:
            out.append(
                Claim(
                    first_claim.text,
                    first_claim.verdict,
                    f"{first_claim.evidence} (the same verdict under each of {len(per)} judges)",
                )
            )
        else:
            out.append(
                Claim(
                    first_claim.text,
                    JUDGES_DISAGREE,
                    f"{first_claim.evidence} (judges 0-{len(per) - 1}: {', '.join(verdicts)})",
                )
            )
    return out


def stab_mean(setting, key: str) -> float | None:
    if setting is None:
        return None
    vals = [e.get("stability", {}).get(key) for e in setting.evals]
    vals = [v for v in vals if v is not None]
    return sum(vals) / len(vals) if vals else None


def answers(study: dict[str, Any], settings: dict, beside=(), modes=()) -> list[tuple[str, list[str], str]]:
    """The four questions: (question, lines of measured evidence, one-line caveat). `beside`: sensitivity or recipes
    studies found next to this one (genlab.report.sensitivity.beside), whose ranked effects answer Q1; `modes`: studies
    that measured Stacked MNIST's 1,000 modes (genlab.report.collapse.beside), which Q2 quotes."""
    gan, vae, hybrid, gz, vz, hz = role_arms(study)
    out = []

    lines = []
    for ds in study["datasets"]:
        for z in gz:
            s = settings.get((ds, gan, z))
            fid = s.stat(M.FID) if s else None
            lines.append(f"{ds} GAN z{z}: FID {number(fid[0])}" if fid else f"{ds} GAN z{z}: not measured")
            if s:
                lines[-1] += (
                    f", late-epoch FID spread {fmt_opt(stab_mean(s, 'fid_epoch_rel_spread'))}, generator-loss "
                    f"std {fmt_opt(stab_mean(s, 'loss_g_std'))}, D saturated on "
                    f"{fmt_pct(stab_mean(s, 'd_saturation'))} of late log steps, seeds {len(s.evals)}"
                )
    measured = sensitivity.answer(list(beside))
    if measured is not None:  # a sensitivity (or recipes) study: the ranked effects answer Q1
        ranked, caveat = measured
        lines = ranked + ["This study's own GAN runs: " + line for line in lines]
    else:
        caveat = (
            "This study varied only z (and the dataset), so the influence of step size, beta1, batch, weight "
            "average, R1, G depth and D width is measured by `genlab study sensitivity --profile quick --seeds 3` "
            "(about 20 minutes on 2 cores) in the same runs folder; this report then ranks them here."
        )
    out.append(("1. Which hyperparameters most influenced GAN stability?", lines, caveat))

    lines = per_setting(
        study,
        settings,
        gan,
        gz,
        lambda s: (
            f"recognisable {fmt_pct(first(s.stat(M.RECOGNISABLE)))}, classes covered (of recognisable samples) "
            f"{val(s, M.CLASSES_COVERED, '.3g')}/{n_classes(s)}, class KL {fmt_opt(first(s.stat(M.CLASS_KL)))} nats, "
            f"recall {val(s, M.RECALL, '.3g')}, coverage {val(s, M.COVERAGE, '.3g')}, near-duplicates of training "
            f"images {fmt_pct(first(s.stat(M.NEAR_DUPLICATES)))}"
        ),
    )
    measured_modes = collapse.answer(list(modes))
    lines = lines + measured_modes
    out.append(
        (
            "2. Was there evidence of mode collapse, and what helped?",
            lines,
            "Class coverage uses the judge's labels on the samples it recognises (a real class at probability "
            f">= {M.RECOGNISABLE_P}; the rest is junk or ambiguous): collapse within a class (one style of '1') "
            "shows only in recall and coverage"
            + (
                "; on Stacked MNIST each channel is labelled by the MNIST judge, so modes are label triples."
                if measured_modes
                else "; ten classes hide most collapse: `genlab study collapse --profile quick --seeds 3` counts "
                "1,000 Stacked MNIST modes in the same runs folder, and this answer then quotes them."
            ),
        )
    )

    lines = per_setting(
        study,
        settings,
        vae,
        vz,
        lambda s: (
            f"recon MSE {val(s, M.RECON_MSE, '.4f')}, SSIM {val(s, M.RECON_SSIM, '.3f')}, ELBO {val(s, M.ELBO, '.1f')} "
            f"nats, IWAE {val(s, M.IWAE, '.1f')} nats, active units {val(s, M.ACTIVE_UNITS, '.3g')}/{s.z_dim}, "
            f"sample FID {val(s, M.FID, '.3g')}, sharpness (1 = real images) of reconstructions "
            f"{val(s, M.RECON_SHARPNESS, '.2f')} and of samples {val(s, M.SHARPNESS, '.2f')}"
        ),
    )
    if not vz:  # a GAN-only study (e.g. --models gan on an image folder): say so, not a bare caveat
        lines = ["The VAE was not part of this study run."]
    out.append(
        (
            "3. How did latent size affect VAE reconstructions and samples?",
            lines,
            "Likelihoods are for Bernoulli pixel means on grey-level data: compare them across z, not with "
            "binarized-MNIST numbers in papers.",
        )
    )

    lines = []
    fid_verdicts: dict[str, list[str]] = {}
    sharper: list[str] = []
    paired = False  # any setting decided on differences paired by seed (>= 2 shared seeds)
    for ds in study["datasets"]:
        for i, z in enumerate(hz):
            h, v = settings.get((ds, hybrid, z)), settings.get((ds, vae, vz[i] if i < len(vz) else z))
            g = settings.get((ds, gan, gz[i])) if i < len(gz) else None
            if not h or not h.evals:
                lines.append(f"{ds} VAE-GAN z{z}: not measured")
                continue
            refs = [f"{lab} z{o.z_dim} {val(o, M.FID, '.3g')}" for lab, o in (("GAN", g), ("VAE", v)) if o and o.evals]
            fid_vs_vae = ""
            if v and v.evals:
                # the same sampler on both sides: prior vs prior, GMM vs GMM, ...
                by_sampler = {sampler: paired_below(h, v, prefix + M.FID) for sampler, prefix in SAMPLERS}
                for sampler, (verdict, _) in by_sampler.items():
                    fid_verdicts.setdefault(sampler, []).append(verdict)
                verdict, diff = by_sampler["prior"]
                paired = paired or diff is not None
                sharper.append(paired_below(v, h, M.SHARPNESS)[0])
                fid_vs_vae = f" {FID_VS_VAE[verdict]}" if diff is None else f" {paired_phrase(verdict, diff)}"
            parts = [
                f"{ds} VAE-GAN z{z}: FID {fmt_interval(h.stat(M.FID))}"
                + (f" ({', '.join(refs)})" if refs else "")
                + f"{fid_vs_vae},"
            ]
            parts.append(
                f"precision {val(h, M.PRECISION, '.3g')}, recall {val(h, M.RECALL, '.3g')}"
                + (f" (VAE {val(v, M.RECALL, '.3g')})" if v and v.evals else "")
                + f", recon MSE {val(h, M.RECON_MSE, '.4f')}"
                + (f" (VAE {val(v, M.RECON_MSE, '.4f')})" if v and v.evals else "")
                + f", sample sharpness {val(h, M.SHARPNESS, '.2f')}"
                + (f" (VAE {val(v, M.SHARPNESS, '.2f')})" if v and v.evals else "")
                + f", SSIM {val(h, M.RECON_SSIM, '.3f')}, interpolation step "
                f"{fmt_opt(h.stat(M.INTERP_STEP)[0] if h.stat(M.INTERP_STEP) else None)}"
                + (
                    f" (VAE {fmt_opt(v.stat(M.INTERP_STEP)[0] if v.stat(M.INTERP_STEP) else None)})"
                    if v and v.evals
                    else ""
                )
            )
            lines.append(" ".join(parts))
    if not hz:
        lines.append("The VAE-GAN was not part of this study run.")
    elif fid_verdicts:
        lines.insert(0, hybrid_summary(fid_verdicts, sharper, paired))
    out.append(
        (
            "4. Could a VAE-GAN combine the strengths?",
            lines,
            "Each FID verdict compares one sampler on both sides (the per-setting lines quote the prior's; the GMM "
            "and latent-flow FIDs are in the tables). The hybrid's "
            "recipe (the VAE's pixel ELBO plus a GAN term on the decoder, weighted by model.adv_weight, the VAE's "
            "optimizer) was chosen by "
            "`genlab study hybrid`, where Larsen et al.'s feature-space reconstruction is the arm vaegan-larsen; "
            "the paper trained far longer on larger images.",
        )
    )
    return out


FID_VS_VAE = {
    SUPPORTED: "— lower than its VAE's, intervals apart",
    CONTRADICTED: "— higher than its VAE's, intervals apart",
    INCONCLUSIVE: "— intervals overlap its VAE's",
    MISSING: "",
}


def fmt_interval(stat: Stat | None, digits: int = 3) -> str:
    """'135 [109, 161]' from a (mean, lo, hi) statistic; '–' where it was not measured."""
    return "–" if stat is None else f"{number(stat[0], digits)} [{number(stat[1], digits)}, {number(stat[2], digits)}]"


def paired_below(a, b, key: str) -> tuple[str, Stat | None]:
    """Verdict for 'a < b' on a metric, and the paired difference it rests on. Where both settings ran the same
    >= 2 seeds (the lab study's seeds share their data order), the 95 % t-interval of the per-seed differences a - b:
    the spread the seeds share cancels, which the two unpaired intervals count twice. Else the two intervals
    (`below`), and no difference."""
    per_seed = [
        {e.get("seed"): e["metrics"][key] for e in x.evals if e.get("metrics", {}).get(key) is not None} for x in (a, b)
    ]
    seeds = sorted(set(per_seed[0]) & set(per_seed[1]) - {None})
    if len(seeds) < 2:
        return below(a.stat(key), b.stat(key)), None
    diff = M.mean_ci([per_seed[0][s] - per_seed[1][s] for s in seeds])
    return (SUPPORTED if diff[2] < 0 else CONTRADICTED if diff[1] > 0 else INCONCLUSIVE), diff


def paired_phrase(verdict: str, diff: Stat) -> str:
    """The per-setting line's verdict with its size: '— 48.5 lower than its VAE's (paired by seed, 95% [33.8,
    63.2])', or '— level with its VAE's (difference -3.9, paired by seed, 95% [-22, 14.3])'."""
    if verdict == INCONCLUSIVE:
        return (
            f"— level with its VAE's (difference {number(diff[0])}, paired by seed, 95% "
            f"[{number(diff[1])}, {number(diff[2])}])"
        )
    lo, hi = sorted((abs(diff[1]), abs(diff[2])))
    word = "lower" if verdict == SUPPORTED else "higher"
    return f"— {number(abs(diff[0]))} {word} than its VAE's (paired by seed, 95% [{number(lo)}, {number(hi)}])"


SAMPLERS = (("prior", ""), ("GMM", M.GMM_PREFIX), ("latent-flow", M.FLOW_PREFIX))  # Q4 compares each on both sides


def hybrid_summary(fid: dict[str, list[str]], sharper: list[str], paired: bool = False) -> str:
    """Q4's first line: at how many settings the hybrid's FID is decided against its VAE's, sampler by sampler (the
    same code density on both sides), and how often it is decidedly sharper — so the answer is a count of measured
    verdicts, not a list to compare. A sampler neither side measured is left out. Each verdict is a 95% interval
    clear of the other side: of the differences paired by seed where both ran the same seeds (paired_below), else
    the two settings' own intervals."""
    prior = fid.get("prior", [])
    n = len(prior)
    line = f"Against its VAE at {n} setting{'s' * (n != 1)}, prior-sampled FID: {counts(prior)}"
    for sampler, verdicts in fid.items():
        measured = [v for v in verdicts if v != MISSING]
        if sampler != "prior" and measured:
            line += f"; {sampler}-sampled: {counts(measured)} of {len(measured)}"
    measured = [s for s in sharper if s != MISSING]
    if measured:
        line += f"; sharper samples, 95% interval clear, at {measured.count(SUPPORTED)} of {len(measured)}"
    how = (
        "of the differences paired by seed where both ran the same seeds"
        if paired
        else "of each setting, as in the tables"
    )
    return line + f" (95% intervals {how})."


def counts(verdicts: list[str]) -> str:
    return (
        f"lower at {verdicts.count(SUPPORTED)}, level at {verdicts.count(INCONCLUSIVE)}, higher at "
        f"{verdicts.count(CONTRADICTED)}"
    )


def per_setting(study: dict[str, Any], settings: dict, model: str, zs, describe) -> list[str]:
    """One evidence line per dataset and latent size of a model; 'not measured' where no run was evaluated."""
    lines = []
    for ds in study["datasets"]:
        for z in zs:
            s = settings.get((ds, model, z))
            label = f"{ds} {arm_label(model)} z{z}"
            lines.append(f"{label}: {describe(s)}" if s and s.evals else f"{label}: not measured")
    return lines


def first(stat: Stat | None) -> float | None:
    """The mean of a (mean, lo, hi) statistic, or None when it was not measured."""
    return None if stat is None else stat[0]


def n_classes(setting) -> int:
    """The dataset's real classes, read from an eval (its class names end with 'junk'); 10 when unknown."""
    names = setting.evals[0].get("class_names") if setting is not None and setting.evals else None
    return len(names) - 1 if isinstance(names, list) and len(names) > 1 else 10


def val(setting, key: str, spec: str = ".3g") -> str:
    """A setting's mean of one metric, formatted; '–' where that metric is missing (an old or damaged eval)."""
    stat = setting.stat(key) if setting is not None else None
    return "–" if stat is None else format(stat[0], spec)


def fmt_opt(x: float | None) -> str:
    return "–" if x is None else f"{x:.3g}"


def fmt_pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


VERDICT_METRICS = tuple((sp.key, sp.name, sp.lower_is_better) for sp in metric_specs.shown_in(metric_specs.VERDICT))


def verdict_sentence(dataset: str, rows: list[tuple]) -> str:
    """The summary table in one plain sentence: which family wins FID, recall and recognisable share at each
    capacity and by how much over the next family. `rows`: (capacity, family, row label, FID, recall,
    recognisable share), each statistic (mean, lo, hi) or None; a family is represented by its best row (sampler).
    With one family, its samplers are compared instead."""
    if len({r[1] for r in rows}) < 2:
        rows = [(r[0], r[2], r[2], *r[3:]) for r in rows]
    caps = list(dict.fromkeys(r[0] for r in rows))
    parts = []
    for i, (_, name, lower) in enumerate(VERDICT_METRICS):

        def key(st: Stat, lower: bool = lower) -> float:
            return st[0] if lower else -st[0]

        wins = []  # (capacity, winner, runner-up family, margin, decided)
        for cap in caps:
            best: dict[str, tuple[str, Stat]] = {}
            for r in rows:
                st = r[3 + i]
                if r[0] == cap and st is not None and (r[1] not in best or key(st) < key(best[r[1]][1])):
                    best[r[1]] = (r[2], st)
            if len(best) < 2:
                continue
            (fam1, (lab1, b)), (fam2, (_, c)) = sorted(best.items(), key=lambda t: key(t[1][1]))[:2]
            decided = b[2] < c[1] if lower else b[1] > c[2]
            if lower:
                ratio = c[0] / b[0] if b[0] > 0 else float("inf")
                margin = f"{ratio:.2f}x lower" if ratio < 1.1 else f"{ratio:.1f}x lower"
            else:
                d = b[0] - c[0]  # a share's lead: two decimals, or one significant digit below 0.01 (not "0.00")
                margin = f"{d:.2f} higher" if d >= 0.01 else f"{d:.1g} higher"
            wins.append((cap, lab1 if lab1 != fam1 else fam1, fam2, margin, decided))
        if not wins:
            continue
        overlap = [w[0] for w in wins if not w[4]]
        note = f"; intervals overlap at {', '.join(overlap)}" if overlap else ""
        groups: dict[str, list[tuple]] = {}
        for w in wins:
            groups.setdefault(w[1], []).append(w)
        said = []
        for winner, ws in groups.items():
            where = "every capacity" if len(groups) == 1 else " and ".join(w[0] for w in ws)
            margins = ", ".join(f"{w[3]} than {w[2]}" + (f" at {w[0]}" if len(ws) > 1 else "") for w in ws)
            said.append(f"{winner} at {where} ({margins})")
        parts.append(f"{name}: " + ", ".join(said) + note)
    return f"{dataset}: " + "; ".join(parts) + "." if parts else ""
