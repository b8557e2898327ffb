"""Progress bars (tqdm) that stay quiet when stderr is not a terminal or GENLAB_QUIET is set."""

import os
import sys

from tqdm.auto import tqdm


def bar(**kwargs) -> tqdm:
    disable = bool(os.environ.get("GENLAB_QUIET")) or not sys.stderr.isatty()
    return tqdm(disable=disable, dynamic_ncols=True, leave=False, **kwargs)
