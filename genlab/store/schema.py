"""Schemas for every JSON genlab reads back from a run or study folder (meta, eval, study, checkpoint state).

A run folder may come from someone else, or be damaged by hand or by a crash; nothing read from it
reaches other code before it passes here. A mismatch is one GenlabError naming the file, the field and
what was expected (config.json has its own validator, genlab.train.config, which this complements).

A spec is a small value: a type name ("int", "num", "str", "bool", "any"), a tuple of alternatives,
`ListOf(spec)`, `DictOf(spec)` (text keys), or `Obj({key: spec}, required=(...))` whose other keys are
allowed but unchecked (older or newer genlab versions may add fields; nothing reads those).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genlab.core.errors import GenlabError, shown
from genlab.core.names import check_name


@dataclass(frozen=True)
class ListOf:
    item: Any
    min_len: int = 0


@dataclass(frozen=True)
class DictOf:
    value: Any


@dataclass(frozen=True)
class Obj:
    fields: dict[str, Any]
    required: tuple[str, ...] = field(default=())


def _type_ok(value: Any, spec: str) -> bool:
    if spec == "any":
        return True
    if spec == "none":
        return value is None
    if spec == "bool":
        return isinstance(value, bool)
    if spec == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec == "num":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))
    if spec == "str":
        return isinstance(value, str)
    if spec == "tensor":
        import torch

        return isinstance(value, torch.Tensor)
    raise ValueError(f"unknown spec {spec}")  # a bug in a schema below, not a user mistake


def _describe(spec: Any) -> str:
    if isinstance(spec, str):
        return {
            "num": "a finite number",
            "int": "a whole number",
            "str": "text",
            "bool": "true or false",
            "none": "null",
            "any": "anything",
            "tensor": "a tensor",
        }[spec]
    if isinstance(spec, tuple):
        return " or ".join(_describe(s) for s in spec)
    if isinstance(spec, ListOf):
        return f"a list of {_describe(spec.item)}" + (f" (at least {spec.min_len})" if spec.min_len else "")
    if isinstance(spec, DictOf):
        return f"an object of {_describe(spec.value)}"
    return "an object"


def _matches(value: Any, spec: Any, where: str) -> tuple[str, Any, Any] | None:
    """None when value fits spec, else (path of the first field that does not, its value or MISSING, its spec)."""
    if isinstance(spec, str):
        return None if _type_ok(value, spec) else (where, value, spec)
    if isinstance(spec, tuple):
        return None if any(_matches(value, s, where) is None for s in spec) else (where, value, spec)
    if isinstance(spec, ListOf):
        if not isinstance(value, list) or len(value) < spec.min_len:
            return where, value, spec
        return next(filter(None, (_matches(v, spec.item, f"{where}[{i}]") for i, v in enumerate(value))), None)
    if isinstance(spec, DictOf):
        if not isinstance(value, dict):
            return where, value, spec
        return next(filter(None, (_matches(v, spec.value, f"{where}.{k}") for k, v in value.items())), None)
    if isinstance(spec, Obj):
        if not isinstance(value, dict):
            return where, value, spec
        for key in spec.required:
            if key not in value:
                return f"{where}.{key}", MISSING, spec.fields.get(key, "any")
        return next(
            filter(None, (_matches(value[k], sub, f"{where}.{k}") for k, sub in spec.fields.items() if k in value)),
            None,
        )
    raise ValueError(f"unknown spec {spec!r}")


MISSING = object()


def check(value: Any, spec: Any, source: str | Path) -> Any:
    """`value` unchanged when it fits `spec`; otherwise a one-line GenlabError naming the file and field."""
    bad = _matches(value, spec, "")
    if bad is None:
        return value
    path, got, want = bad
    what = "is missing" if got is MISSING else f"is {shown(got)}, expected {_describe(want)}"
    where = f"{source}: field {path.lstrip('.')}" if path else f"{source}: the content"
    raise GenlabError(
        f"{where} {what}; the file is damaged — re-run the command that wrote it, or delete the run "
        "folder to start it again"
    )


NUM_OR_NONE = ("num", "none")
INTERVAL = ListOf("num", 2)

META = Obj(
    {
        "status": "str",
        "run_name": "str",
        "model": "str",
        "family": "str",
        "dataset": "str",
        "z_dim": "int",
        "seed": "int",
        "started": "str",
        "finished": "str",
        "environment": DictOf(("str", "num", "bool", "none")),
        "data_sha256": DictOf("str"),
        "n_train": "int",
        "steps_per_epoch": "int",
        "resumed_from_step": ("int", "none"),
        "wall_s": "num",
        "step": "int",
        "best_step": ("int", "none"),
        "best_fid_epoch": NUM_OR_NONE,
        "images_per_s": NUM_OR_NONE,
        "figures_done": "bool",
        "figures_s": "num",
        "evaluated": "bool",
        "eval_s": "num",
        "diverged_step": "int",
        "diverged_losses": ListOf("str"),
        "error": "str",
        "traceback": "str",
        "device": "str",
        "train_flops_per_step": "int",
        "train_flops": "int",
    }
)

EVAL = Obj(
    {
        "run": "str",
        "model": "str",
        "dataset": "str",
        "z_dim": "int",
        "seed": "int",
        "epoch": "int",
        "step": "int",
        "checkpoint": "str",
        "data_sha256": DictOf("str"),
        "judge": Obj({"test_accuracy": "num", "version": "int"}, required=("test_accuracy",)),
        "protocol": Obj(
            {"n_fake": "int", "n_real": "int", "reference": "str", "feature_space": "str", "intervals": "str"},
            required=("n_fake", "reference", "feature_space", "intervals"),
        ),
        "sample_flops": "num",
        "metrics": DictOf(NUM_OR_NONE),
        "intervals": DictOf(INTERVAL),
        "floor": DictOf(NUM_OR_NONE),
        "class_histogram": ListOf("num", 1),
        "train_class_histogram": ListOf("num", 1),
        "class_names": ListOf("str"),
        "gmm_class_histogram": ListOf("num", 1),  # and one per other code sampler (genlab.eval.samplers)
        "flow_class_histogram": ListOf("num", 1),
        "codes_class_histogram": ListOf("num", 1),
        "test_recognisable_share": "num",
        "stability": DictOf(NUM_OR_NONE),
        "fid_by_epoch": ListOf(ListOf("num", 2)),
        "kl_per_dim": ListOf("num"),
        "mean_variance_per_dim": ListOf("num"),
        "judge_skipped": "str",  # an unlabeled image folder: no judge, no class histogram (genlab.eval.evaluate)
        "judges": ListOf(
            Obj(
                {
                    "index": "int",
                    "file": "str",
                    "sha256": "str",
                    "test_accuracy": "num",
                    "metrics": DictOf(NUM_OR_NONE),
                    "intervals": DictOf(INTERVAL),
                    "floor": DictOf(NUM_OR_NONE),
                },
                required=("index", "metrics"),
            )
        ),
        "instrument_spread": DictOf(INTERVAL),
    },
    required=("run", "model", "dataset", "z_dim", "metrics", "floor", "protocol"),
)

STUDY = Obj(
    {
        "study": "str",
        "profile": "str",
        "seeds": "int",
        "description": "str",
        "profile_description": "str",
        "overrides": ListOf("str"),
        "datasets": ListOf("str", 1),
        "arms": DictOf(ListOf("int", 1)),
        "arm_order": ListOf("str"),
        "capacity_names": ListOf("str", 1),
        "runs": ListOf("str"),
        "arm_models": DictOf("str"),
        "roles": DictOf("str"),
        "factors": DictOf(ListOf("str", 2)),
    },
    required=("study", "profile", "datasets", "arms", "capacity_names", "runs"),
)


def check_study(study: Any, source: str | Path) -> dict[str, Any]:
    """study.json: the schema, plus arms whose latent sizes line up with the capacity names."""
    check(study, STUDY, source)
    order = study.get("arm_order")
    if order is not None and sorted(order) == sorted(study["arms"]):  # the study's order, not the file's sorted keys
        study["arms"] = {arm: study["arms"][arm] for arm in order}
    n = len(study["capacity_names"])
    for model, zs in study["arms"].items():
        if len(zs) != n:
            raise GenlabError(
                f"{source}: field arms.{model} has {len(zs)} latent sizes for {n} capacities; "
                "the file is damaged — run the study again to rewrite it"
            )
    for name in study["runs"]:
        try:
            check_name(name, "run name")
        except GenlabError as e:
            raise GenlabError(f"{source}: field runs: {e}; the file is damaged") from None
    if not 1 <= study.get("seeds", 1) <= 100:
        raise GenlabError(f"{source}: field seeds is {shown(study['seeds'])}, expected 1 to 100; the file is damaged")
    return study


CHECKPOINT_STATE = Obj(
    {
        "model": DictOf("tensor"),
        "opt": DictOf(Obj({"state": "any", "param_groups": ListOf("any")}, required=("state", "param_groups"))),
        "rng_torch": "tensor",
        "rng_batches_epoch_start": "tensor",
        "epoch": "int",
        "pos": "int",
        "step": "int",
        "sums": DictOf("num"),
        "best_step": ("int", "none"),
        "best_value": NUM_OR_NONE,
    },
    required=(
        "model",
        "opt",
        "rng_torch",
        "rng_batches_epoch_start",
        "epoch",
        "pos",
        "step",
        "sums",
        "best_step",
        "best_value",
    ),
)
