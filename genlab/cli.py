"""Command line: subcommands -> library calls. A GenlabError becomes one line on stderr and exit 2.

    genlab study lab --profile quick        run the study (skips finished runs, resumes interrupted ones)
    genlab train --model gan --dataset mnist --model.z_dim=64 --train.epochs=10
    genlab eval RUN_DIR                     metrics of a run from its checkpoint (eval.json)
    genlab sample RUN_DIR --n 64 --out grid.png
    genlab report runs/lab-quick            the study report (report.html)
    genlab runs runs/lab-quick [--json]     a terminal table of the study's runs
    genlab data verify | fetch              check / download the datasets
    genlab judge verify | train DATASET     check the shipped judges / train one (a new judge version)

Config overrides: `--section.key=value` (sections: model, data, train, eval);
in a study `--gan.key=value` / `--vae.key=value` reach one model only.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from pathlib import Path

from genlab.core.errors import GenlabError, Interrupted
from genlab.core.safeio import printable

OVERRIDE_RE = re.compile(r"^--[A-Za-z_]+\.[A-Za-z0-9_]+(=.*)?$")


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as one GenlabError line instead of usage + exit."""

    def error(self, message: str):
        raise GenlabError(f"{self.prog}: {message}; see '{self.prog} --help'")


def split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """(other args, 'section.key=value' overrides); accepts --a.b=v and --a.b v."""
    rest, overrides, i = [], [], 0
    while i < len(argv):
        item = argv[i]
        if item in ("--log.tensorboard", "--log.tensorboard=true"):  # the spelling of --tensorboard
            rest.append("--tensorboard")
        elif item == "--log.tensorboard=false":  # off is the default: nothing to do
            pass
        elif item.startswith("--log.tensorboard="):
            raise GenlabError(
                f"{printable(item)}: use --log.tensorboard=true or false (the same as --tensorboard or leaving it out)"
            )
        elif OVERRIDE_RE.match(item):
            if "=" in item:
                overrides.append(item[2:])
            elif i + 1 < len(argv):
                overrides.append(f"{item[2:]}={argv[i + 1]}")
                i += 1
            else:
                raise GenlabError(f"override {item} has no value; write {item}=VALUE")
        else:
            rest.append(item)
        i += 1
    return rest, overrides


def build_parser() -> Parser:
    from genlab import __version__

    p = Parser(prog="genlab", description="A laboratory for generative image models (GAN, VAE) on MNIST-like data.")
    p.add_argument("--version", action="version", version=f"genlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    def device_opt(sp):
        sp.add_argument(
            "--device", default="auto", help="auto (cuda when there is a GPU, else cpu), cpu, cuda or cuda:N"
        )

    def data_opt(sp):
        sp.add_argument(
            "--data-dir",
            help="folder holding mnist/ and fashion-mnist/ (default: $GENLAB_DATA, "
            "else ~/.cache/genlab/data, downloaded on first use)",
        )

    s = sub.add_parser("study", help="run a named study and write its index page and report")
    s.add_argument("name", help="study name, e.g. lab")
    s.add_argument("--profile", default="quick", help="quick (minutes) or full (the study as specified)")
    s.add_argument("--seeds", type=int, default=1, help="seeds per setting (>= 2 gives confidence intervals)")
    s.add_argument("--runs-dir", default="runs", help="where study folders go (default: runs)")
    s.add_argument("--models", help="comma-separated subset of the study's models, e.g. gan,vae (default: all)")
    s.add_argument("--datasets", help="comma-separated subset of the study's datasets, e.g. mnist (default: all)")
    s.add_argument(
        "--dataset",
        help="run the study on this dataset instead: mnist, fashion-mnist, stacked-mnist, cifar-10 or folder:PATH "
        "(your images, PATH/<class>/*.png|jpg; docs/datasets.md)",
    )
    s.add_argument(
        "--tensorboard",
        action="store_true",
        help="also log every run to RUN_DIR/tb for TensorBoard (pip install 'genlab[tensorboard]')",
    )
    s.add_argument("--no-eval", action="store_true", help="train and draw figures only; skip metrics")
    s.add_argument(
        "--workers",
        type=int,
        help="processes sharing the runs (default: one per CPU core, at most 8, each with "
        "one torch thread; 1 = this process alone)",
    )
    s.add_argument("--threads", type=int, help="torch threads per worker (default: the cores shared out)")
    s.add_argument("--no-pages", action="store_true", help=argparse.SUPPRESS)  # leave index and report unwritten
    s.add_argument(
        "--executor",
        default="local",
        help="local (worker processes on this machine, the default) or "
        "ray (one Ray task per run; pip install 'genlab[ray]')",
    )
    s.add_argument(
        "--address",
        help="with --executor ray: HOST:PORT of a running Ray cluster, or auto (default: "
        "start a local Ray with this machine's cores)",
    )
    s.add_argument("--cpus-per-run", type=int, default=1, help="with --executor ray: CPUs (and torch threads) per run")
    s.add_argument(
        "--gpus-per-run",
        type=float,
        default=0.0,
        help="with --executor ray: GPUs per run (0.25 = four runs share a GPU)",
    )
    s.add_argument(
        "--max-retries",
        type=int,
        default=3,
        help="with --executor ray: retries of a run whose worker or node died (it resumes from its checkpoint)",
    )
    device_opt(s)
    data_opt(s)

    w = sub.add_parser("worker", help="(internal) one local worker of 'genlab study'")
    w.add_argument("request", help="the study request as JSON (genlab.study.study_request)")

    t = sub.add_parser("train", help="train one run")
    t.add_argument("--model", required=True, help="gan, vae, vaegan or flow (pixel-space flow matching)")
    t.add_argument(
        "--dataset",
        default="mnist",
        help="mnist, fashion-mnist, stacked-mnist, cifar-10 or folder:PATH (your images, PATH/<class>/*.png|jpg)",
    )
    t.add_argument("--name", help="run folder name (default: dataset-model-zZ-sSEED)")
    t.add_argument("--runs-dir", default="runs", help="parent folder of the run (default: runs)")
    t.add_argument("--no-eval", action="store_true", help="skip per-epoch FID and final metrics")
    t.add_argument(
        "--tensorboard",
        action="store_true",
        help="also log to RUN_DIR/tb for TensorBoard (pip install 'genlab[tensorboard]')",
    )
    device_opt(t)
    data_opt(t)

    e = sub.add_parser("eval", help="evaluate a run from its checkpoint (writes eval.json)")
    e.add_argument("run_dir")
    device_opt(e)
    data_opt(e)

    sm = sub.add_parser("sample", help="draw samples from a run into a PNG grid")
    sm.add_argument("run_dir")
    sm.add_argument("--n", type=int, default=64, help="number of samples (1..1024)")
    sm.add_argument("--out", default="samples.png", help="output PNG path")
    sm.add_argument("--seed", type=int, default=0, help="noise seed")
    device_opt(sm)

    r = sub.add_parser("report", help="write report.html for a study folder")
    r.add_argument("study_dir")
    r.add_argument("--pdf", action="store_true", help="also write report.pdf with headless Chromium")

    ru = sub.add_parser("runs", help="a table of a study's runs: status, epochs, best epoch, FID, wall time")
    ru.add_argument("study_dir")
    ru.add_argument("--json", action="store_true", help="print the rows as JSON instead")
    ru.add_argument("--sort", default="name", choices=["name", "fid", "status", "wall"], help="row order")

    j = sub.add_parser("judge", help="check the shipped judges, or train one (a new judge version)")
    j.add_argument("action", choices=["verify", "train"])
    j.add_argument("dataset", nargs="?", help="with train: mnist or fashion-mnist")
    j.add_argument(
        "--index", type=int, default=0, help="with train: the judge's place in the ensemble (seed 1234 + 10 x index)"
    )
    j.add_argument("--threads", type=int, default=1, help="with train: torch threads (the shipped judges: 1)")
    j.add_argument(
        "--out",
        help="with train: folder for the .safetensors and .json (default: "
        "genlab/eval/judges/, replacing the shipped files)",
    )
    data_opt(j)

    d = sub.add_parser("data", help="check or download the datasets")
    d.add_argument("action", choices=["verify", "fetch"])
    d.add_argument("target", nargs="?", help="the dataset, as --dataset (e.g. genlab data verify folder:PATH)")
    d.add_argument("--dataset", default="all", help="mnist, fashion-mnist, stacked-mnist, cifar-10, folder:PATH or all")
    d.add_argument(
        "--test-fraction",
        type=float,
        default=None,
        help="with folder:PATH: the held-out share (as data.test_fraction; default 1/6, MNIST's 10k of 70k)",
    )
    data_opt(d)
    return p


def output_dir(path: str, what: str) -> Path:
    """A folder genlab will write into: an existing writable folder, or one it can create inside an existing
    folder. Checked before anything is trained or written."""
    import tempfile

    if not path:
        raise GenlabError(f"{what} is empty; give a folder (e.g. {what} runs), or leave it out for the default")
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise GenlabError(f"{what} {printable(path)} is a file, not a folder; pass a folder")
    if not p.exists():
        if not p.parent.is_dir():
            raise GenlabError(f"{what} {path}: its parent folder {p.parent} does not exist; create it first")
        try:
            p.mkdir()
        except OSError as e:
            raise GenlabError(f"{what} {path} cannot be created ({e.strerror}); choose another folder") from None
    try:
        fd, probe = tempfile.mkstemp(dir=p, prefix=".genlab-write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise GenlabError(f"{what} {path} is not writable ({e.strerror}); choose another folder") from None
    return p


def output_png(path: str) -> Path:
    """A PNG file to write: name ends in .png, not a folder, inside an existing writable folder."""
    out = Path(path)
    if out.suffix.lower() != ".png":
        raise GenlabError(f"--out {path} must end in .png")
    if out.is_dir():
        raise GenlabError(f"--out {path} is a folder; give a file name ending in .png")
    parent = out.parent
    if not parent.is_dir():
        raise GenlabError(f"--out {path}: the folder {parent} does not exist; create it first (mkdir -p {parent})")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GenlabError(f"--out {path}: the folder {parent} is not writable; choose another place")
    return out


def cmd_study(a, overrides):
    from genlab.study.study_request import StudyRequest
    from genlab.study.sweep import plan_workers, run_study

    req = StudyRequest(
        study=a.name,
        profile=a.profile,
        seeds=a.seeds,
        runs_dir=a.runs_dir,
        data_dir=a.data_dir,
        overrides=tuple(overrides),
        evaluate=not a.no_eval,
        models=tuple(m.strip() for m in a.models.split(",") if m.strip()) if a.models else None,
        datasets=tuple(d.strip() for d in a.datasets.split(",") if d.strip()) if a.datasets else None,
        dataset=a.dataset,
        workers=a.workers,
        threads=a.threads,
        pages=not a.no_pages,
        device=a.device,
        executor=a.executor,
        address=a.address,
        cpus_per_run=a.cpus_per_run,
        gpus_per_run=a.gpus_per_run,
        max_retries=a.max_retries,
        tensorboard=a.tensorboard,
    )
    req.check()
    if a.workers is not None:
        plan_workers(a.workers, 1)  # its one-line check, before anything is written
    if req.executor == "ray":
        from genlab.study.executor_ray import check_gpus, parse_address  # pure checks; Ray is not imported

        check_gpus(req.gpus_per_run)
        if req.address is not None:
            parse_address(req.address)
    if req.tensorboard:
        from genlab.train.tb_logger import check_available

        check_available()
    output_dir(req.runs_dir, "--runs-dir")
    study_dir = run_study(req)
    if req.pages:
        print(f"open {study_dir / 'index.html'}")


def cmd_worker(a, overrides):
    """A local worker of `genlab study`: the parent's request, serialised (genlab.study.sweep.worker_command)."""
    from genlab.study.study_request import StudyRequest
    from genlab.study.sweep import run_study

    run_study(StudyRequest.from_json(a.request))


def cmd_train(a, overrides):
    from genlab.core import devices
    from genlab.store.runs import check_name
    from genlab.study.one_run import run_one
    from genlab.train.config import make_config

    cfg = make_config(a.model, a.dataset, overrides)
    device = devices.resolve(a.device)
    if a.name is not None and not a.name:
        raise GenlabError(f"--name is empty; give a run folder name, or leave --name out for '{cfg.run_name}'")
    name = check_name(a.name if a.name is not None else cfg.run_name, "run name")
    run_dir = output_dir(a.runs_dir, "--runs-dir") / name
    if a.tensorboard:
        from genlab.train.tb_logger import check_available

        check_available()
    meta = run_one(cfg, run_dir, a.data_dir, evaluate_runs=not a.no_eval, device=device, tensorboard=a.tensorboard)
    print(f"{run_dir}: {meta.get('status')} ({meta.get('wall_s', 0):.1f}s training)")
    return 0 if meta.get("status") == "done" else 1


def cmd_eval(a, overrides):
    from genlab.core import devices
    from genlab.eval.evaluate import evaluate_run, summary_line

    print(summary_line(evaluate_run(Path(a.run_dir), a.data_dir, devices.resolve(a.device))))


def cmd_sample(a, overrides):
    import torch

    from genlab.report import viz
    from genlab.train.loop import load_run

    if not 1 <= a.n <= 1024:
        raise GenlabError(f"--n {a.n} must be from 1 to 1024")
    if not 0 <= a.seed < 2**63:
        raise GenlabError(f"--seed {a.seed} must be a whole number from 0 to 2^63-1")
    from genlab.core import devices

    out = output_png(a.out)  # before the model loads
    cfg, model, state = load_run(Path(a.run_dir), device=devices.resolve(a.device))
    x = model.sample(a.n, torch.Generator().manual_seed(a.seed))
    title = f"{cfg.data.dataset} · {cfg.model_name.upper()} z={cfg.z_dim} · epoch {state['epoch']} · seed {a.seed}"
    try:
        viz.save_png(viz.titled(viz.grid(x), title), out)
    except OSError as e:
        raise GenlabError(f"--out {out} cannot be written ({e.strerror}); choose another place") from None
    print(out)


def cmd_report(a, overrides):
    from genlab.report.html import write_index, write_report

    if a.pdf:
        from genlab.core.browser import check_pdf_support

        check_pdf_support()  # before anything is written
    if (Path(a.study_dir) / "study.json").is_file():
        write_index(Path(a.study_dir))  # redraws the comparison charts from the evals as they are now
    path = write_report(Path(a.study_dir), pdf=a.pdf)
    print(path)


def cmd_runs(a, overrides):
    import json

    from genlab.report.compare import run_rows

    rows = run_rows(Path(a.study_dir), a.sort)
    if a.json:
        print(json.dumps(rows, indent=1))
        return
    from genlab.eval import metric_specs

    specs = metric_specs.shown_in(metric_specs.RUNS)
    head = ["run", "status", "epochs", "best", *(f"{s.label} [95% CI]" for s in specs)]
    head.append("wall s")

    def cell(spec, r) -> str:
        v, iv = r["metrics"][spec.key], r["intervals"][spec.key]
        return f"{spec.format(v)} [{spec.format(iv[0])}, {spec.format(iv[1])}]" if iv else spec.format(v)

    cells = [
        [
            r["run"],
            r["status"],
            f"{r['epochs_done']}/{r['epochs'] or '–'}",
            str(r["best_epoch"] or "–"),
            *(cell(spec, r) for spec in specs),
            "–" if r["wall_s"] is None else f"{r['wall_s']:.0f}",
        ]
        for r in rows
    ]
    cells = [[printable(c) for c in row] for row in cells]  # a shared study folder's values reach a terminal
    if not cells:
        print(f"{printable(a.study_dir)}: the study lists no runs")
        return
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(head)]
    for line in [head, [("-" * w) for w in widths], *cells]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))))


def cmd_data(a, overrides):
    from genlab import data

    if a.target:
        a.dataset = a.target
    if data.is_folder(a.dataset):
        if a.action == "fetch":
            raise GenlabError(f"{a.dataset}: a folder is not fetched; use 'genlab data verify {a.dataset}'")
        if a.test_fraction is None:
            a.test_fraction = data.folders.DEFAULT_TEST_FRACTION
        if not 0.05 <= a.test_fraction <= 0.5:
            raise GenlabError(f"--test-fraction {a.test_fraction} must be from 0.05 to 0.5")
        dataset = data.check_name(a.dataset)
        for key, value in data.folders.describe(dataset, a.test_fraction).items():
            print(printable(f"{key}: {value}"))  # class names are folder names
        return
    if a.dataset == data.cifar10.NAME:  # one archive, six pinned .bin files
        hashes = data.source(a.dataset, a.data_dir).verify(fetch=a.action == "fetch")
        print(f"{a.dataset}: {len(hashes)} files OK (SHA-256 matches)")
        return
    if a.dataset in data.SOURCES and a.dataset not in data.DATASETS:  # built from another dataset's files
        src = data.source(a.dataset, a.data_dir)
        if src.channel_source is not None:
            data.verify(src.channel_source.name, a.data_dir, fetch=a.action == "fetch")
        counts = {split: int(src.load(split)[0].shape[0]) for split in ("train", "test")}
        print(
            f"{src.name}: {'x'.join(map(str, src.shape))} images, {counts['train']} train, {counts['test']} test, "
            f"{len(src.classes)} classes (built from verified files)"
        )
        return
    names = list(data.DATASETS) if a.dataset == "all" else [data.get_dataset(data.check_name(a.dataset)).name]
    for name in names:
        hashes = data.verify(name, a.data_dir, fetch=a.action == "fetch")
        print(f"{name}: {len(hashes)} files OK (SHA-256 of decompressed bytes matches)")


def cmd_judge(a, overrides):
    from genlab.eval import shipped_judges

    if a.action == "verify":
        if a.dataset:
            raise GenlabError("genlab judge verify takes no dataset; it checks every shipped judge")
        for line in shipped_judges.verify_all():
            print(line)
        return
    import hashlib
    import json

    import torch
    from safetensors.torch import save

    from genlab import data
    from genlab.eval import features
    from genlab.store.runs import atomic_write, cpu_name, now

    if a.dataset not in data.DATASETS:
        raise GenlabError(
            f"genlab judge train needs a dataset: {', '.join(data.DATASETS)} (an image folder "
            "trains its own judge when a study needs it)"
        )
    if not 0 <= a.index < 10:
        raise GenlabError(f"--index {a.index} must be from 0 to 9")
    if not 1 <= a.threads <= 1024:
        raise GenlabError(f"--threads {a.threads} must be a whole number from 1 to 1024")
    out = output_dir(a.out, "--out") if a.out else shipped_judges.WEIGHTS_DIR
    data.verify(a.dataset, a.data_dir)
    torch.set_num_threads(a.threads)
    model, info = features.train_judge(data.source(a.dataset, a.data_dir), seed=features.judge_seed(a.index))
    flags = set(open("/proc/cpuinfo").read().split()) if Path("/proc/cpuinfo").exists() else set()
    info.update(
        {
            "trained": now(),
            "machine": {
                "cpu": cpu_name(),
                "cores": os.cpu_count(),
                "avx512f": "avx512f" in flags,
                "avx2": "avx2" in flags,
            },
            "torch": torch.__version__,
            "command": f"genlab judge train {a.dataset} --index {a.index} --threads {a.threads}",
        }
    )
    weights = save(model.state_dict())
    meta = (json.dumps(info, indent=2, sort_keys=True) + "\n").encode()
    w_path, j_path = (out / p.name for p in shipped_judges.paths(a.dataset, a.index))
    atomic_write(w_path, weights)
    atomic_write(j_path, meta)
    print(f"{w_path}: test accuracy {info['test_accuracy']:.4f} ({info['train_seconds']:.0f} s)")
    print(
        f'pin: ("{a.dataset}", {a.index}): ("{hashlib.sha256(weights).hexdigest()}", '
        f'"{hashlib.sha256(meta).hexdigest()}"),'
    )


COMMANDS = {
    "study": cmd_study,
    "train": cmd_train,
    "eval": cmd_eval,
    "sample": cmd_sample,
    "report": cmd_report,
    "runs": cmd_runs,
    "data": cmd_data,
    "judge": cmd_judge,
    "worker": cmd_worker,
}


def one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings (a damaged checkpoint skipped) as one 'genlab: warning:' line, not Python's two-line format."""
    return "genlab: warning: " + printable(" ".join(str(message).split("\n"))) + "\n"


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.formatwarning = one_line_warning
    argv = sys.argv[1:] if argv is None else argv
    main_thread = threading.current_thread() is threading.main_thread()
    # SIGTERM unwinds like Ctrl-C (finally blocks run: lock files released, temp files removed);
    # inside the training loop both become a checkpoint first (train.StopFlag)
    old_term = signal.signal(signal.SIGTERM, signal.default_int_handler) if main_thread else None
    try:
        rest, overrides = split_overrides(argv)
        a = build_parser().parse_args(rest)
        if overrides and a.command not in ("study", "train"):
            raise GenlabError(f"config overrides ({overrides[0]}) only apply to 'genlab study' and 'genlab train'")
        return COMMANDS[a.command](a, overrides) or 0
    except GenlabError as e:
        # one line, one write; control characters from file names or run folders escaped
        sys.stderr.write("genlab: error: " + printable(" ".join(str(e).split("\n"))) + "\n")
        return 2
    except Interrupted as e:
        sys.stderr.write(f"genlab: {e}\n")
        return 130
    except KeyboardInterrupt:
        sys.stderr.write("genlab: interrupted; run the same command again to resume\n")
        return 130
    except BrokenPipeError:
        os._exit(1)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, old_term)


if __name__ == "__main__":
    raise SystemExit(main())
