# Copyright (c) apa_mmdet contributors.
"""mmengine checkpoints load under weights_only=True; crafted ones do not."""
import io
import os
import pickle

import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import (CheckpointLoader, _load_checkpoint,
                                        load_checkpoint)
from torch import nn

from apa_mmdet.models.layers import AGLU
from apa_mmdet.utils import UnsafeCheckpointError, safe_load


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.act = AGLU(num_parameters=4)

    def forward(self, inputs, mode='loss'):
        out = self.act(self.linear(inputs))
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


class ToyDataset(torch.utils.data.Dataset):
    metainfo = dict(classes=('a', 'b'), palette=[(1, 2, 3)])

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return dict(inputs=torch.full((4, ), float(index)) / 8)


def make_runner(work_dir, max_epochs, **kwargs):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1]),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0, deterministic=True),
        experiment_name=f'{work_dir.name}_{max_epochs}',
        **kwargs)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('full')
    runner = make_runner(work_dir, max_epochs=2)
    runner.train()
    return work_dir, runner.model.state_dict()


def test_local_loader_is_the_allow_list_loader():
    assert CheckpointLoader._get_checkpoint_loader('/x/epoch_1.pth').__module__ \
        == 'apa_mmdet.utils.checkpoint'


def test_mmengine_checkpoint_loads_with_weights_only(trained):
    work_dir, _ = trained
    with pytest.raises(pickle.UnpicklingError):
        torch.load(work_dir / 'epoch_1.pth', weights_only=True)
    checkpoint = safe_load(str(work_dir / 'epoch_1.pth'))
    assert {'meta', 'state_dict', 'message_hub', 'optimizer',
            'param_schedulers'} <= set(checkpoint)
    buffer = checkpoint['message_hub']['log_scalars']['train/loss']
    assert buffer.min() <= buffer.mean() <= buffer.max()
    # the allow-list is scoped to the load: torch's global one is untouched
    assert HistoryBuffer not in torch.serialization.get_safe_globals()


def test_resume_reproduces_the_uninterrupted_run(trained, tmp_path):
    work_dir, final_state = trained
    runner = make_runner(
        tmp_path, max_epochs=2, load_from=str(work_dir / 'epoch_1.pth'),
        resume=True)
    runner.train()
    assert runner.epoch == 2
    for key, value in final_state.items():
        torch.testing.assert_close(runner.model.state_dict()[key], value)


def test_load_from_and_pretrained_init(trained, tmp_path):
    work_dir, final_state = trained
    runner = make_runner(
        tmp_path, max_epochs=1, load_from=str(work_dir / 'epoch_2.pth'))
    runner.load_or_resume()
    for key, value in final_state.items():
        torch.testing.assert_close(runner.model.state_dict()[key], value)
    model = ToyModel()
    model.init_cfg = dict(
        type='Pretrained', checkpoint=str(work_dir / 'epoch_2.pth'))
    model.init_weights()
    torch.testing.assert_close(model.act.lambda_param,
                               final_state['act.lambda_param'])


class RunsACommand:
    """Unpickling this would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def test_crafted_checkpoint_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': RunsACommand(marker)}, path)
    with pytest.raises(UnsafeCheckpointError,
                       match=r'evil\.pth.*posix\.system'):
        _load_checkpoint(str(path))
    runner = make_runner(tmp_path / 'run', max_epochs=1, load_from=str(path),
                         resume=True)
    with pytest.raises(UnsafeCheckpointError, match='nothing in it was run'):
        runner.load_or_resume()
    with pytest.raises(UnsafeCheckpointError):
        safe_load(io.BytesIO(path.read_bytes()))
    assert not marker.exists()


def test_getattr_is_restricted_to_history_buffer_statistics(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save({'x': GetattrEscape()}, path)
    with pytest.raises(UnsafeCheckpointError, match='getattr'):
        safe_load(str(path))


class GetattrEscape:
    """Pickles as getattr(HistoryBuffer, '__init__'), a step to escape."""

    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__init__'))


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        _load_checkpoint(str(tmp_path / 'nope.pth'))


def test_not_a_checkpoint_is_named(tmp_path):
    path = tmp_path / 'notes.pth'
    path.write_text('plain text')
    with pytest.raises(ValueError, match='notes.pth is not a PyTorch'):
        _load_checkpoint(str(path))


def test_missing_and_unexpected_keys_are_named(tmp_path, capsys):
    state = ToyModel().state_dict()
    state.pop('act.lambda_param')
    state['act.gamma'] = torch.zeros(4)
    path = tmp_path / 'keys.pth'
    torch.save(dict(state_dict=state), path)
    missing = 'missing keys in source state_dict: act.lambda_param'
    unexpected = 'unexpected key in source state_dict: act.gamma'
    with pytest.raises(RuntimeError, match=f'(?s){unexpected}.*{missing}'):
        load_checkpoint(ToyModel(), str(path), strict=True)
    # non-strict (load_from, init_cfg Pretrained): a warning naming them
    load_checkpoint(ToyModel(), str(path), strict=False)
    warning = capsys.readouterr().out
    assert unexpected in warning and missing in warning


def test_load_weights_builds_no_class_object():
    """BUILD on an allow-listed class (not an instance) would set its
    attributes, e.g. widen HistoryBuffer's getattr allow-list into a way
    to reach any function: refused, the class untouched."""
    from apa_mmdet.utils.checkpoint import MMENGINE_SAFE_GLOBALS
    from apa_mmdet.utils.placeholder_unpickler import \
        _placeholder_pickle_module
    before = dict(HistoryBuffer._statistics_methods)
    payload = (b'\x80\x02cmmengine.logging.history_buffer\nHistoryBuffer\n'
               b'}(X\x13\x00\x00\x00_statistics_methods}X\x08\x00\x00\x00'
               b'__init__K\x00sub.')
    unpickler = _placeholder_pickle_module(MMENGINE_SAFE_GLOBALS).Unpickler(
        io.BytesIO(payload))
    with pytest.raises(pickle.UnpicklingError, match='refusing to build'):
        unpickler.load()
    assert HistoryBuffer._statistics_methods == before


def test_load_weights_refuses_torchscript(tmp_path):
    """torch.load without weights_only hands TorchScript archives to
    torch.jit.load, which runs their code."""
    from apa_mmdet.utils import load_weights
    path = tmp_path / 'scripted.pt'
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), str(path))
    with pytest.raises(ValueError, match='TorchScript archive'):
        load_weights(str(path))


@pytest.mark.parametrize('setting,module', [
    (None, 'apa_mmdet.utils.checkpoint'),
    ('mmengine', 'mmengine.runner.checkpoint')])
def test_the_loader_is_installed_on_import_unless_opted_out(setting, module):
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items()
           if k != 'APA_MMDET_LOCAL_LOADER'}
    if setting:
        env['APA_MMDET_LOCAL_LOADER'] = setting
    code = ('import apa_mmdet; from mmengine.runner.checkpoint import '
            'CheckpointLoader as C; '
            "print(C._get_checkpoint_loader('/x/a.pth').__module__)")
    out = subprocess.run([sys.executable, '-c', code], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.split()[-1] == module
