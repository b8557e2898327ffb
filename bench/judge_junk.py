"""How the judge treats junk: recognisable share and judge-space metrics of noise, blobs, shuffled and corrupted
test images against the real-vs-real floor (issue "A judge that knows junk"; docs/evaluation.md).

    .venv/bin/python bench/judge_junk.py [--n 2000] [--datasets mnist,fashion-mnist] [--data-dir DIR]

Trains (once, then cached) and times each judge if it is not cached yet. Inputs, n each: the first n test
images; uniform noise; smoothed noise blobs; pixel-shuffled test images; test images with 5/10/20 % salt and
pepper; the other dataset's test images. Reference for precision/density/coverage: the test images n..2n
(so "test images" is real-vs-real, the floor). Prints one table per dataset.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from genlab import data
from genlab.eval import features, junk
from genlab.eval import metrics as M


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    t = torch.arange(-4, 5, dtype=x.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, 9), padding=(0, 4))
    return torch.nn.functional.conv2d(x, k.view(1, 1, 9, 1), padding=(4, 0))


def inputs(dataset: str, n: int, data_dir) -> dict[str, torch.Tensor]:
    test, _ = data.source(dataset, data_dir).load("test")
    x = data.to_unit(test[:n])
    g = torch.Generator().manual_seed(7)
    other = "fashion-mnist" if dataset == "mnist" else "mnist"
    out = {
        "test images": x,
        "uniform noise": junk.uniform(x, g),
        "noise blobs": junk.blobs(x, g),
        "pixel-shuffled": junk.shuffled(x, g),
    }
    for rate in (0.05, 0.10, 0.20):
        out[f"salt-and-pepper {rate:.0%}"] = junk.salt_and_pepper(x, rate, g)
    for sigma in (0.6, 1.0, 1.5):  # blur is not junk: a fair judge keeps blurred digits recognisable
        out[f"Gaussian blur sigma {sigma}"] = blur(x, sigma)
    out[f"{other} images"] = data.to_unit(data.source(other, data_dir).load("test")[0][:n])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--datasets", default="mnist,fashion-mnist")
    p.add_argument("--data-dir")
    a = p.parse_args()
    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, judge v{features.JUDGE_VERSION}"
    )
    for ds in a.datasets.split(","):
        t = time.perf_counter()
        judge, info = features.get_judge(data.source(ds, a.data_dir))
        print(
            f"\n## {ds}: judge test accuracy {info['test_accuracy']:.4f} (floor {info['floor']}), "
            f"test recognisable {info.get('test_recognisable_share', float('nan')):.4f}, "
            f"trained in {info.get('train_seconds', '?')} s (loaded in {time.perf_counter() - t:.1f} s)"
        )
        test, _ = data.source(ds, a.data_dir).load("test")
        ref_f, _ = judge.features_and_probs(data.to_unit(test[a.n : 2 * a.n]))
        radii = M.knn_radii(ref_f, (3, 5))
        print(
            f"| input (n={a.n}) | recognisable | junk-class share | top class share | FID | precision | "
            "density | coverage |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
        )
        for name, x in inputs(ds, a.n, a.data_dir).items():
            f, pr = judge.features_and_probs(x)
            rec = M.recognisable(pr).mean()
            top = torch.bincount(pr.argmax(1), minlength=pr.shape[1]).max() / pr.shape[0]
            ind = M.manifold_indicators(ref_f, f, 3, 5, radii)
            print(
                f"| {name} | {rec:.3f} | {(pr.argmax(1) == pr.shape[1] - 1).double().mean():.3f} | {top:.3f} | "
                f"{M.fid(ref_f, f):.1f} | {ind[M.PRECISION].mean():.3f} | {ind[M.DENSITY].mean():.3f} | "
                f"{ind[M.COVERAGE].mean():.3f} |"
            )


if __name__ == "__main__":
    main()
