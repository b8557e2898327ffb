"""DiffAugment (genlab.models.diffaugment) on constructed images: each policy does what the paper's code does,
stays differentiable, and a bad policy is one line."""

import pytest
import torch

from genlab.cli import main
from genlab.models import diffaugment as A


def square(n: int = 4, side: int = 16) -> torch.Tensor:
    """n grey images, -1 everywhere but a bright 4x4 square at rows/cols 6..9."""
    x = -torch.ones(n, 1, side, side)
    x[:, :, 6:10, 6:10] = 1.0
    return x


def test_translation_shifts_by_whole_pixels_with_zeros_shifted_in():
    torch.manual_seed(0)
    x = square(64)
    y = A.translation(x)
    for i in range(64):
        ys, xs = torch.nonzero(y[i, 0] == 1, as_tuple=True)
        assert ys.numel() == 16 and ys.max() - ys.min() == 3 and xs.max() - xs.min() == 3  # the square, moved whole
        assert abs(int(ys.min()) - 6) <= 2 and abs(int(xs.min()) - 6) <= 2  # at most 1/8 of the side
        assert set(y[i].unique().tolist()) <= {-1.0, 0.0, 1.0}  # zeros come in at the border
    assert not torch.equal(y, x)  # some image moved


def test_cutout_zeroes_one_square_of_half_the_side():
    torch.manual_seed(1)
    x = torch.ones(32, 3, 16, 16)
    y = A.cutout(x)
    zeros = (y == 0).all(1).flatten(1).sum(1)
    assert int(zeros.max()) == 64 and int(zeros.min()) >= 16  # 8x8, fewer where it hangs over an edge


def test_colour_changes_brightness_and_contrast_but_keeps_grey_grey():
    torch.manual_seed(2)
    grey = square(8).expand(8, 3, 16, 16).contiguous()
    y = A.color(grey)
    assert torch.allclose(y[:, 0], y[:, 1]) and torch.allclose(y[:, 1], y[:, 2])  # saturation of grey: grey
    assert not torch.allclose(y, grey)


def test_every_policy_is_differentiable_and_the_parser_names_the_bad_one(capsys, tmp_path):
    x = square(4).requires_grad_(True)
    A.augment(x, A.parse_policy("color, translation,cutout")).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert A.parse_policy("") == ()
    with pytest.raises(ValueError, match="'blur'"):
        A.parse_policy("color,blur")
    code = main(["train", "--model", "gan", "--runs-dir", str(tmp_path), "--model.augment=color,flip"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "'flip'" in err and "model.augment" in err
