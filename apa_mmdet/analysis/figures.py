# Copyright (c) apa_mmdet contributors.
"""The analysis tools' PNGs: one off-screen figure per file."""
from contextlib import contextmanager
from typing import Iterator, Tuple


@contextmanager
def saved_figure(path: str, nrows: int = 1, ncols: int = 1,
                 dpi: int = 120, **subplots_kwargs) -> Iterator[Tuple]:
    """``(figure, axes)`` of ``plt.subplots(nrows, ncols, **kwargs)`` on the
    Agg backend (no display needed); laid out and written to ``path`` when
    the block ends without an error, closed in any case."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(nrows, ncols, **subplots_kwargs)
    try:
        yield fig, axes
        fig.tight_layout()
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)
