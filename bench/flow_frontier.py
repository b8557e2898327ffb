"""The pixel flow family's FID-vs-training-time frontier: each velocity network given is trained by genlab's own loop
(one torch thread), and after every epoch its weight average draws samples that shipped judge 0 scores (FID,
recognisable share, recall on --n samples against the test set). Training seconds exclude the measuring. Prints a
markdown table, one row per (network, epoch), hardware and versions first; FLOPs per training image and per sample
from genlab.compute.

    python bench/flow_frontier.py --dataset mnist --epochs 4 --n 2000 \\
        --nets 'arch=mlp,width=1024;arch=unet,width=16' [--runs-dir /tmp/flow-frontier]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from genlab import data
from genlab.eval import features
from genlab.eval import metrics as M
from genlab.eval.evaluate import generate, real_reference, sample_metrics
from genlab.train import compute
from genlab.train.config import make_config
from genlab.train.loop import train


def cpu_flags() -> str:
    flags = open("/proc/cpuinfo").read().split("flags")[1].split("\n")[0]
    return "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "no AVX2")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--n", type=int, default=2000, help="samples scored after each epoch")
    ap.add_argument("--nets", default="arch=mlp,width=1024;arch=unet,width=16", help="';'-separated model overrides")
    ap.add_argument("--train", default="", help="','-separated train.* overrides for every net, e.g. batch_size=256")
    ap.add_argument("--runs-dir", default="/tmp/flow-frontier")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"# {platform.processor() or platform.machine()}, {cpu_flags()}, torch {torch.__version__}, 1 thread")
    ds = args.dataset
    judge, _ = features.get_judge(data.source(ds))
    ref = real_reference(data.source(ds), 10_000)
    _, labels = data.source(ds).load("train")
    hist = torch.bincount(labels, minlength=len(data.source(ds).classes)).double() / labels.numel()
    print("| net | epoch | train s | FID | recognisable | recall | MFLOP/train image | GFLOP/sample |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for net in filter(None, args.nets.split(";")):
        over = [f"model.{kv}" for kv in net.split(",")] + [f"train.{kv}" for kv in filter(None, args.train.split(","))]
        cfg = make_config(
            "flow", ds, [*over, f"train.epochs={args.epochs}", "train.threads=1", "eval.epoch_fid_samples=0"]
        )
        run = Path(args.runs_dir) / f"{ds}-{net.replace(',', '-').replace('=', '')}"
        clock = {"t": time.perf_counter(), "train": 0.0}

        def hook(model, epoch: int, net=net, cfg=cfg, clock=clock) -> dict[str, float]:
            clock["train"] += time.perf_counter() - clock["t"]
            x = generate(model, args.n, 20_241_125)
            f, p = judge.features_and_probs(x)
            v = sample_metrics(ref, f, p, hist, 20, 500)["values"]
            per_image = compute.train_step_flops(model, x[: cfg.train.batch_size]) / cfg.train.batch_size
            print(
                f"| {net} | {epoch} | {clock['train']:.0f} | {v[M.FID]:.1f} | {v[M.RECOGNISABLE]:.3f} | "
                f"{v[M.RECALL]:.3f} | {per_image / 1e6:.0f} | {compute.sample_flops(model) / 1e9:.2f} |"
            )
            sys.stdout.flush()
            clock["t"] = time.perf_counter()
            return {"fid_epoch": v[M.FID]}

        train(cfg, run, epoch_hook=hook)


if __name__ == "__main__":
    main()
