"""Stacked MNIST: three MNIST digits as the three channels of one 3 x 28 x 28 image, 1,000 modes (label triples).

The field's standard mode-collapse benchmark (Metz et al. 2017, unrolled GANs; Srivastava et al. 2017, VEEGAN;
Lin et al. 2018, PacGAN): a generator that covers all ten digits may still cover few of the 1,000 triples.
Built deterministically from the MNIST files genlab already has, nothing is downloaded: channel c of image i is
MNIST image perm_c[i] of the same split, with three seeded permutations, so the training set is 60,000 images
(the test set 10,000) and every MNIST image appears once in every channel; the label is 100 a + 10 b + c.
The papers differ in their training set size (and do not all state it); genlab keeps MNIST's, so an epoch here
is an MNIST epoch. The MNIST judge labels each channel (genlab.eval.features.ChannelJudge; genlab.report.collapse counts
the modes).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from genlab.data.datasource import DataSource

NAME = "stacked-mnist"
SEED = 2017  # the permutations' seed (VEEGAN's year): part of the dataset's identity, recorded in its hashes
CONSTRUCTION = f"v1: channel c of image i = MNIST image perm_c[i] of the same split, perm_c = randperm(seed {SEED} + c)"


@dataclass(frozen=True)
class StackedMnist(DataSource):
    mnist: DataSource  # where the digits come from (data.IdxSource("mnist", data_dir))
    name: str = NAME

    @property
    def shape(self) -> tuple[int, int, int]:
        return (3, *self.mnist.shape[1:])

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(f"{i:03d}" for i in range(1000))

    @property
    def channel_source(self) -> DataSource:
        return self.mnist

    def load(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        return _stack(self.mnist, split)

    def content_hashes(self) -> dict[str, str]:
        return {**self.mnist.content_hashes(), "stacked": CONSTRUCTION}


@functools.lru_cache(maxsize=4)
def _stack(mnist: DataSource, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = mnist.load(split)  # [N, 1, 28, 28]
    offset = 0 if split == "train" else 3
    perms = [
        torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(SEED + offset + c)) for c in range(3)
    ]
    stacked = torch.cat([images[p] for p in perms], dim=1)
    triple = 100 * labels[perms[0]] + 10 * labels[perms[1]] + labels[perms[2]]
    return stacked, triple
