import os.path as osp

import pytest

from apa_mmdet.analysis import saved_figure


def test_saved_figure_writes_the_png_and_closes(tmp_path):
    import matplotlib.pyplot as plt
    from PIL import Image
    path = str(tmp_path / 'plot.png')
    with saved_figure(path, 1, 2, figsize=(4, 3)) as (fig, axes):
        assert len(axes) == 2 and plt.fignum_exists(fig.number)
        axes[0].plot([0, 1], [1, 0])
    assert Image.open(path).size == (4 * 120, 3 * 120)
    assert not plt.fignum_exists(fig.number)


def test_saved_figure_writes_nothing_on_error_and_closes(tmp_path):
    import matplotlib.pyplot as plt
    path = str(tmp_path / 'plot.png')
    with pytest.raises(KeyError, match='missing'):
        with saved_figure(path) as (fig, axis):
            raise KeyError('missing')
    assert not osp.exists(path)
    assert not plt.fignum_exists(fig.number)
