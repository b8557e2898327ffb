"""Training throughput (images/s) of the lab study's models on a device, data on that device.

    python bench/gpu_throughput.py --device cuda [--repeats 5] [--steps 40] [--amp]

--amp adds a column: the same steps under bf16 autocast (genlab's --train.amp), timed alternately with fp32.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from genlab.core import devices
from genlab.models import build_model
from genlab.store.runs import environment
from genlab.study.studies import GAN_BATCH
from genlab.train.config import make_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--amp", action="store_true", help="also time bf16 autocast, side by side")
    ap.add_argument("--models", default="gan,vae,vaegan")
    a = ap.parse_args()
    dev = devices.resolve(a.device)
    images = torch.randint(0, 256, (20_000, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    images = images.to(dev)
    env = environment()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else env["cpu"]
    print(f"# throughput on {dev} ({name}) · torch {env['torch']} · genlab {env['genlab']} {env['git_sha'] or ''}")
    modes = (False, True) if a.amp else (False,)
    print(
        "| model | z | batch | median img/s | spread |"
        + (" bf16 img/s | bf16 / fp32 |" if a.amp else "")
        + "\n| --- | --- | --- | --- | --- |"
        + (" --- | --- |" if a.amp else "")
    )
    gan_bs = int(GAN_BATCH[0].split("=")[1])
    for model, zs, bs in (("gan", (32, 64, 128), gan_bs), ("vae", (8, 16, 32), 128), ("vaegan", (8, 16, 32), 128)):
        if model not in a.models.split(","):
            continue
        for z in zs:
            torch.manual_seed(0)
            m = build_model(model, make_config(model, "mnist", [f"model.z_dim={z}"]).model).to(dev)
            opt = m.make_optimizers()
            rates: dict[bool, list[float]] = {mode: [] for mode in modes}
            for r in range(a.repeats + 1):
                for amp in modes:  # alternating, so both modes see the same machine noise
                    perm = torch.randperm(images.shape[0], device=dev)
                    if dev.type == "cuda":
                        torch.cuda.synchronize()
                    t = time.perf_counter()
                    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                        for s in range(a.steps):
                            x = images[perm[s * bs : (s + 1) * bs]].unsqueeze(1).float().div_(127.5).sub_(1.0)
                            {k: float(v) for k, v in m.train_step(x, opt).items()}
                    if r:
                        rates[amp].append(a.steps * bs / (time.perf_counter() - t))
            fp32 = rates[False]
            line = f"| {model} | {z} | {bs} | {statistics.median(fp32):.0f} | {min(fp32):.0f}..{max(fp32):.0f} |"
            if a.amp:
                bf16 = statistics.median(rates[True])
                line += f" {bf16:.0f} | {bf16 / statistics.median(fp32):.2f} |"
            print(line, flush=True)


if __name__ == "__main__":
    main()
