"""What a dataset is to the rest of genlab: one object instead of a (dataset, data_dir, test_fraction) triple.

A source knows its name (as config.json holds it), its image shape C x H x W, its class names, the content hashes
a run records, and how to load a split as uint8 [N, C, H, W] with int64 labels. Models are built from its shape,
the judge from its classes; nothing outside the data modules assumes MNIST's 1 x 28 x 28.

Implementations: `data.IdxSource` (MNIST, Fashion-MNIST), `folders.FolderSource` (your images),
`stacked_mnist.StackedMnist` (three MNIST digits as the channels of one image); `data.SOURCES` registers them
by name, `data.PREFIXES` by prefix (folder:PATH). A new one is a subclass and one registration line.
"""

from __future__ import annotations

import hashlib

import torch

Shape = tuple[int, int, int]  # channels, height, width


def content_digest(hashes: dict[str, str]) -> str:
    """One SHA-256 hex digest naming a set of content hashes (meta.json's data_sha256), order-free."""
    return hashlib.sha256("".join(f"{k}={v};" for k, v in sorted(hashes.items())).encode()).hexdigest()


class DataSource:
    """Subclasses are frozen dataclasses (hashable: per-process caches key on them) that set `name` and
    implement the methods below."""

    name: str  # the dataset string in config.json

    @property
    def channel_source(self) -> DataSource | None:
        """For a source whose channels are each an image of another dataset (Stacked MNIST): that dataset, whose
        judge labels every channel (genlab.eval.features.ChannelJudge); None for the rest."""
        return None

    @property
    def shape(self) -> Shape:
        raise NotImplementedError

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names; empty for an unlabeled source (no judge can be trained on it)."""
        raise NotImplementedError

    @property
    def slug(self) -> str:
        """The dataset's part of a run folder's name (never a path)."""
        return self.name

    def load(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(images uint8 [N, C, H, W], labels int64 [N]) of a verified split; cached per process."""
        raise NotImplementedError

    def content_hashes(self) -> dict[str, str]:
        """SHA-256 of the data a run trains on, for meta.json (a run refuses to resume on other images)."""
        raise NotImplementedError

    def judge_key(self) -> str:
        """The part of a trained judge's cache key that names its training images (by content: a moved folder
        keeps its judge)."""
        return f"{self.slug}-{content_digest(self.content_hashes())[:12]}"
