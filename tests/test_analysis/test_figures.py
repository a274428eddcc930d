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


def apa_run(seed):
    """A record of a learnable APA classifier: λ, κ quartiles per group,
    the rate and the classes at the floor, at two steps."""
    groups = dict(r=[0.8, 0.9, 1.0], c=[0.7, 0.8, 0.9], f=[0.6, 0.7, 0.8])
    history = [{'iter': step, 'lambda': groups, 'kappa': groups,
                'lambda_raw': groups, 'at_floor': dict(r=0, c=0, f=0),
                'lr': 0.02 / step} for step in (100, 200)]
    return dict(seed=seed, apa_classifier=dict(history=history))


def test_apa_history_tells_seven_runs_apart_and_refuses_eight(tmp_path):
    """Seven runs (three variants × two seeds and one more, as the long-tail
    document's room-to-move block has) take all the line styles, dashed
    patterns included; an eighth could not be told apart."""
    from PIL import Image

    from apa_mmdet.analysis.comparison_plots import plot_apa_history
    runs = {f'variant{v}': [apa_run(0), apa_run(1)] for v in range(3)}
    runs['variant3'] = [apa_run(0)]
    path = tmp_path / 'apa.png'
    assert plot_apa_history(runs, str(path))
    assert min(Image.open(path).size) >= 400
    runs['variant3'].append(apa_run(1))
    with pytest.raises(ValueError, match='8 runs'):
        plot_apa_history(runs, str(tmp_path / 'eight.png'))
