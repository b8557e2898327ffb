"""The judge: a small CNN classifier per dataset whose penultimate layer is the metric feature space.

Inception weights cannot be downloaded here and Inception-FID on 28x28
grayscale digits is a poor judge anyway; community practice is a small CNN
trained on the dataset itself (see docs/evaluation.md). MNIST's and
Fashion-MNIST's ship (genlab.eval.shipped_judges); for folders and CIFAR-10
genlab trains it deterministically on the training split, caches it by
(dataset hash, judge version) under $GENLAB_CACHE/judges, and records
its test accuracy, which is shown with every metric. Judge-space values are
NOT comparable with Inception-FID numbers in papers.

The judge has one class more than the dataset: "junk", trained on synthetic
non-images (genlab.eval.junk; outlier exposure, Hendrycks et al. ICLR 2019), so
noise is not filed confidently under a digit. A sample is *recognisable* when
the judge gives one real class probability >= RECOGNISABLE_P.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save
from torch import nn

from genlab import data
from genlab.core import safeio
from genlab.core.errors import GenlabError
from genlab.core.paths import cache_home, usable_cache
from genlab.core.progress import bar
from genlab.core.safeio import printable
from genlab.core.threads import thread_invariant_map
from genlab.data.datasource import DataSource
from genlab.eval import junk, shipped_judges
from genlab.eval import metrics as M
from genlab.store import runs
from genlab.store.runs import atomic_write

JUDGE_VERSION = 3  # bump when the architecture or recipe changes: the cache key includes it (2: junk class;
#   3: blur-augmented real and junk images, so blurred digits stay recognisable)
FEATURE_DIM = 128
JUDGE_SHAPE = (1, 28, 28)  # the shipped judges' images (the network and the junk are built for any C x H x W)
JUDGE_EPOCHS = {"mnist": 3, "fashion-mnist": 8}
JUNK_PER_BATCH = 32  # synthetic junk images beside each batch of 128 real ones (outlier exposure)
RECOGNISABLE_P = M.RECOGNISABLE_P  # the one definition lives with the metrics (genlab.eval.metrics)
JUDGE_SEED = 1234  # judge 0; judge k of an ensemble trains with JUDGE_SEED + 10 k (the junk generator takes seed + 1)
ACCURACY_FLOOR = {"mnist": 0.992, "fashion-mnist": 0.915}
FOLDER_JUDGE_STEPS = 1_500  # an image folder's judge trains for about this many steps (at least 3 epochs)
FOLDER_ACCURACY_WARN = 0.8  # below this test accuracy a folder's judge metrics get a warning


def judge_epochs(dataset: str, n_images: int, batch: int) -> int:
    """MNIST/Fashion: measured fixed counts; a folder: enough epochs for ~1,500 steps, 3 to 200."""
    if dataset in JUDGE_EPOCHS:
        return JUDGE_EPOCHS[dataset]
    return max(3, min(200, -(-FOLDER_JUDGE_STEPS // max(1, n_images // batch))))


NO_JUDGE_UNLABELED = (
    "the images are unlabeled (a flat folder, no class subfolders), so genlab trains no judge: FID, KID, "
    "precision, recall, density, coverage, recognisable share and the class metrics are not measured; "
    "put the images in PATH/<class>/ folders to get them"
)


def why_no_judge(src: DataSource) -> str | None:
    """Why a source's samples cannot be judged (no labels; a shape the judge network is not built for), or None
    when they can: the one test evaluation, the epoch hook and the judge training ahead of the workers share."""
    if not src.classes:
        return NO_JUDGE_UNLABELED
    c, h, w = src.shape
    if src.channel_source is not None or (h % 4 == 0 and w % 4 == 0):
        return None
    return (
        f"the images are {c}x{h}x{w}; the judge halves an image twice, so it needs sides that are multiples of "
        "4: FID, KID, precision, recall, density, coverage, recognisable share and the class metrics are not "
        "measured"
    )


def check_labeled(src: DataSource) -> None:
    if not src.classes:
        raise GenlabError(
            f"{src.name}: the images are unlabeled (no class folders), so there is no judge; put them "
            "in PATH/<class>/ folders for judge metrics"
        )


class MaxPool2(nn.MaxPool2d):
    """2x2 max pooling, stride 2. Without gradients (every measurement) it is the maximum of four strided slices:
    the same values bit for bit, ~10x faster than torch's max_pool2d on one CPU thread (bench/judge_cost.py
    --pool). Training keeps max_pool2d, whose gradient on ties (a ReLU's zeros) picks one input where
    torch.maximum's would split it: the judges' recipe is unchanged."""

    def __init__(self):
        super().__init__(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or x.shape[-1] % 2 or x.shape[-2] % 2:
            return super().forward(x)
        return torch.maximum(
            torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]), torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2])
        )


class Judge(nn.Module):
    """conv16-pool-conv32-pool-conv64-fc128-fc(classes+1) with batch norm; features = the fc128 activations;
    the last output is the junk class.

    Sized by measurement: 2,700 training images/s on 2 CPU cores (a 4-conv 32/64 net reached 570).
    """

    def __init__(self, n_classes: int = 10, shape: tuple[int, int, int] = JUDGE_SHAPE):  # the head has one more
        super().__init__()
        c, h, w = shape

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.body = nn.Sequential(
            *block(c, 16),
            MaxPool2(),
            *block(16, 32),
            MaxPool2(),
            *block(32, 64),
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(64 * (h // 4) * (w // 4), FEATURE_DIM),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, n_classes + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.inference_mode()
    def features_and_probs(self, x: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 128) penultimate features and (N, classes + 1) probabilities (last: junk) of images in [-1, 1].

        inference_mode and batches of 256 measured 2.3x faster than no_grad and batches of 1,000 here; the batches
        run one torch thread each, side by side, so the features are the same bits on any number of cores.
        """
        device = next(self.parameters()).device

        @torch.inference_mode()  # a thread of its own does not inherit the caller's mode
        def one(chunk: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            f = self.body(chunk.to(device).float())
            return f.cpu(), F.softmax(self.head(f), dim=1).cpu()

        chunks = [x[i : i + batch] for i in range(0, x.shape[0], batch)]
        # on the CPU, one thread per batch: the same features whatever the core count (core/threads.py)
        out = thread_invariant_map(one, chunks) if device.type == "cpu" else [one(c) for c in chunks]
        return torch.cat([f for f, _ in out]).double(), torch.cat([p for _, p in out]).double()


class ChannelJudge(nn.Module):
    """The judge of a source whose every channel is an image of another dataset (Stacked MNIST): that dataset's
    judge on each channel. Features: the channels' features side by side (C x 128); the probability of a class
    tuple is the product of its channels' probabilities (each channel judged on its own), the rest is junk."""

    def __init__(self, base: Judge, channels: int):
        super().__init__()
        self.base, self.channels = base, channels

    def describe(self) -> str:
        return (
            f"the {self.channels} channels' judge penultimate layers side by side ({self.channels} x {FEATURE_DIM}-d); "
            "class tuple probability = product of the channels' class probabilities"
        )

    def per_channel(self, x: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, 128) features and (N, C, classes + 1) probabilities of the base judge on every channel."""
        n, c = x.shape[:2]
        f, p = self.base.features_and_probs(x.reshape(n * c, 1, *x.shape[2:]), batch)
        return f.view(n, c, -1), p.view(n, c, -1)

    def channel_probs(self, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
        """(N, C, classes + 1): the base judge's probabilities for every channel (last: junk)."""
        return self.per_channel(x, batch)[1]

    def features_and_probs(self, x: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        f, p = self.per_channel(x, batch)
        n, c = x.shape[:2]
        digits = p[..., :-1]
        joint = digits[:, 0]
        for i in range(1, c):  # class index a * K^(c-1) + ... : the first channel's class is the leading digit
            joint = (joint.unsqueeze(2) * digits[:, i].unsqueeze(1)).flatten(1)
        junk = (1 - joint.sum(1, keepdim=True)).clamp_min(0)
        return f.reshape(n, -1), torch.cat([joint, junk], 1)


def cache_dir() -> Path:
    return cache_home() / "judges"


def judge_seed(index: int) -> int:
    return JUDGE_SEED + 10 * index


def judge_key(src: DataSource, index: int = 0) -> str:
    """Cache key: the training images' identity (an IDX file's SHA-256, or a folder's content hash and split),
    the judge's version and its place in the ensemble (judge 0 keeps the key it always had)."""
    suffix = f"-j{index}" if index else ""
    return f"{src.judge_key()}-v{JUDGE_VERSION}{suffix}"


def train_judge(src: DataSource, seed: int = JUDGE_SEED) -> tuple[Judge, dict]:
    """Train the judge deterministically (fixed seed, fixed batch order, junk from a seeded generator): the
    same machine and thread count give the same bytes; returns (model, info)."""
    problem = why_no_judge(src)
    if problem:
        raise GenlabError(f"{src.name}: {problem}")
    dataset = src.name
    images, labels = src.load("train")
    test_images, test_labels = src.load("test")
    g = torch.Generator().manual_seed(seed)
    g_junk = torch.Generator().manual_seed(seed + 1)
    n_classes = len(src.classes)
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Judge(n_classes, src.shape)
        bs = min(128, images.shape[0])
        epochs = judge_epochs(dataset, images.shape[0], bs)
        steps = images.shape[0] // bs
        opt = torch.optim.Adam(model.parameters(), lr=3e-3, fused=True)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * steps)
        model.train()
        with bar(total=epochs * steps, desc=f"training the {dataset} judge (once, then cached)", unit="step") as pb:
            for _ in range(epochs):
                perm = torch.randperm(images.shape[0], generator=g)
                for s in range(steps):
                    idx = perm[s * bs : (s + 1) * bs]
                    x = junk.random_blur(data.to_unit(images[idx]), g_junk)  # blurred digits are digits
                    # junk destroyed from the next batch's images, labelled as the extra class
                    base = data.to_unit(images[perm[((s + 1) * bs + torch.arange(JUNK_PER_BATCH)) % perm.numel()]])
                    x = torch.cat([x, junk.make_junk(base, g_junk)])
                    y = torch.cat([labels[idx], torch.full((JUNK_PER_BATCH,), n_classes)])
                    loss = F.cross_entropy(model(x), y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    pb.update(1)
    train_s = time.perf_counter() - t0
    test_x = data.to_unit(test_images)
    model.eval()
    _, probs = model.features_and_probs(test_x)  # one pass serves accuracy and recognisable share
    acc = float((probs.argmax(1) == test_labels).double().mean())  # a real image called junk is an error
    info = {
        "dataset": dataset,
        "version": JUDGE_VERSION,
        "test_accuracy": acc,
        "feature_dim": FEATURE_DIM,
        "epochs": epochs,
        "seed": seed,
        "threads": torch.get_num_threads(),
        "floor": ACCURACY_FLOOR.get(dataset, FOLDER_ACCURACY_WARN),
        "test_recognisable_share": float(M.recognisable(probs).mean()),
        "recognisable_p": RECOGNISABLE_P,
        "train_seconds": round(train_s, 1),
        "junk": f"{JUNK_PER_BATCH} synthetic junk images per batch of {bs} as an extra class "
        f"({', '.join([*junk.KINDS, 'mixed'])}; genlab.eval.junk); half of real and junk images blurred "
        f"(sigma {junk.BLUR_SIGMA[0]}-{junk.BLUR_SIGMA[1]})",
        "architecture": f"conv16-pool-conv32-pool-conv64-fc128(features)-fc{n_classes}+junk, batch norm, dropout 0.3",
        "shape": list(src.shape),
    }
    return model, info


def judge_info_problem(info: object, weights_sha256: str) -> str | None:
    """Why a cached judge's JSON cannot be trusted, or None: it must be an object of the recorded fields with a
    test accuracy in [0, 1] and the SHA-256 of the weights file beside it."""
    if not isinstance(info, dict):
        return f"its JSON is {type(info).__name__}, not an object"
    acc = info.get("test_accuracy")
    if isinstance(acc, bool) or not isinstance(acc, (int, float)) or not 0.0 <= acc <= 1.0:
        return "its test accuracy is not a number from 0 to 1"
    if info.get("version") != JUDGE_VERSION:
        return f"its version is not {JUDGE_VERSION}"
    if "weights_sha256" not in info:
        return "it has no checksum: an older genlab wrote it"
    if info.get("weights_sha256") != weights_sha256:
        return "its weights do not match their recorded SHA-256"
    return None


def load_cached_judge(key: str, n_classes: int, shape: tuple[int, int, int] = JUDGE_SHAPE) -> tuple[Judge, dict] | None:
    """A cached judge after checking its weights' SHA-256 and its JSON; None if absent; a damaged or tampered
    entry is a warning and None (it is retrained, never trusted: zeroed weights would score any samples
    as perfect)."""
    folder = cache_dir()
    weights, meta = folder / f"{key}.safetensors", folder / f"{key}.json"
    if not (weights.exists() or meta.exists()):
        return None
    try:
        blob = safeio.read_capped(weights, safeio.MAX_CACHE_BYTES, "the cached judge")
        info = runs.loads_finite(safeio.read_capped(meta, safeio.MAX_JSON_BYTES, "the cached judge's JSON").decode())
        problem = judge_info_problem(info, hashlib.sha256(blob).hexdigest())
        if problem is None:
            model = Judge(n_classes, shape)
            model.load_state_dict(safetensors_load(blob))
            model.eval()
            return model, info
    except FileNotFoundError:
        problem = "half of it is missing"
    except GenlabError as e:
        problem = str(e)
    except Exception as e:  # safetensors and load_state_dict raise many types for damaged files  # noqa: BLE001
        problem = f"unreadable ({type(e).__name__})"
    warnings.warn(f"the cached judge {printable(weights)} is damaged ({problem}); training it again", stacklevel=2)
    return None


def ensemble_size(src: DataSource, requested: int = 0) -> int:
    """How many judges a run is measured under: the shipped ensemble for MNIST and Fashion-MNIST (and for a source
    whose channels they judge; or fewer if asked), `requested` (default 1) trained ones for an image folder."""
    dataset = (src.channel_source or src).name
    shipped = shipped_judges.count(dataset)
    if shipped:
        if requested > shipped:
            raise GenlabError(
                f"eval.judges={requested}: genlab ships {shipped} judges for {dataset}; use 1 to "
                f"{shipped} (or 0 for all)"
            )
        return requested or shipped
    return requested or 1


@functools.lru_cache(maxsize=16)
def get_judge(src: DataSource, index: int = 0) -> tuple[Judge, dict]:
    """Judge `index` of a source, in eval mode: the shipped one (hash-checked) for MNIST and Fashion-MNIST,
    else the cached one (trained on first use)."""
    check_labeled(src)
    if src.channel_source is not None:
        base, base_info = get_judge(src.channel_source, index)
        judge = ChannelJudge(base, src.shape[0])
        return judge, {**base_info, "dataset": src.name, "channels": src.shape[0], "feature_space": judge.describe()}
    dataset = src.name
    n_classes = len(src.classes)
    if shipped_judges.is_shipped(dataset):
        blob, info = shipped_judges.read_verified(dataset, index)
        model = Judge(n_classes)
        model.load_state_dict(safetensors_load(blob))
        model.eval()
        return model, info
    key = judge_key(src, index)
    cached = load_cached_judge(key, n_classes, src.shape)
    if cached is not None:
        return cached
    model, info = train_judge(src, seed=judge_seed(index))
    if dataset not in ACCURACY_FLOOR and info["test_accuracy"] < FOLDER_ACCURACY_WARN:
        warnings.warn(
            f"the judge of {dataset} classifies only {info['test_accuracy']:.1%} of its test images "
            f"right (below {FOLDER_ACCURACY_WARN:.0%}): its metrics say little; add images per class or "
            "merge classes that look alike",
            stacklevel=2,
        )
    blob = safetensors_save(model.state_dict())
    info["weights_sha256"] = hashlib.sha256(blob).hexdigest()
    info["index"] = index
    folder = usable_cache(cache_dir(), "judges")
    if folder is not None:
        try:
            atomic_write(folder / f"{key}.safetensors", blob)
            atomic_write(folder / f"{key}.json", json.dumps(info, indent=2).encode())
        except OSError as e:
            warnings.warn(
                f"the judge cache {printable(folder)} cannot be written ({e.strerror}); the judge will be "
                "trained again next time",
                stacklevel=2,
            )
    model.eval()
    return model, info


@functools.lru_cache(maxsize=16)
def real_features(
    src: DataSource, split: str, n: int, index: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(features, probs, labels) of the first n images of a split under judge `index` (cached per process)."""
    judge, _ = get_judge(src, index)
    images, labels = src.load(split)
    feats, probs = judge.features_and_probs(data.to_unit(images[:n]))
    return feats, probs, labels[:n]
