# Copyright (c) apa_mmdet contributors.
"""Every config is in a metafile (mmdet's format) and every metafile entry
is a config; the model zoo page is generated from them."""
import runpy
from pathlib import Path

import pytest
import yaml
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(str(p.relative_to(ROOT))
                 for p in (ROOT / 'configs').glob('*/*.py')
                 if p.parent.name != '_base_')
METAFILES = sorted((ROOT / 'configs').glob('*/metafile.yml'))
MODELS = [(metafile, model) for metafile in METAFILES
          for model in yaml.safe_load(metafile.read_text())['Models']]
REQUIRED = ('Backbone', 'Activation Sites', 'SE', 'Classifier', 'Loss',
            'Mask Predictor', 'Initialised From', 'Final Checkpoint')


def test_the_model_index_imports_every_metafile():
    """``mim search`` reads the root model-index.yml, as mmdet's."""
    index = yaml.safe_load((ROOT / 'model-index.yml').read_text())
    assert sorted(index['Import']) == [
        str(m.relative_to(ROOT)) for m in METAFILES]


def test_every_config_is_listed_once():
    listed = [model['Config'] for _, model in MODELS]
    assert sorted(listed) == CONFIGS


@pytest.mark.parametrize('metafile,model', MODELS,
                         ids=[m['Name'] for _, m in MODELS])
def test_entry_points_at_its_config_and_says_what_it_is(metafile, model):
    config = ROOT / model['Config']
    assert config.is_file() and config.parent == metafile.parent
    assert model['Name'] == config.stem
    collections = yaml.safe_load(metafile.read_text())['Collections']
    assert model['In Collection'] in [c['Name'] for c in collections]
    assert all(model['Metadata'].get(key) for key in REQUIRED), model['Name']
    assert model['Source'] and isinstance(model['Results'], list)
    train_cfg = Config.fromfile(config).train_cfg
    final = (f'iter_{train_cfg.max_iters}.pth' if 'max_iters' in train_cfg
             else f'epoch_{train_cfg.max_epochs}.pth')
    assert model['Metadata']['Final Checkpoint'] == final
    if 'Weights' in model:
        assert model['Convert'].endswith(f'--config {model["Config"]}')


def test_the_model_zoo_page_is_generated_and_linked():
    tool = runpy.run_path(str(ROOT / 'tools/misc/model_zoo.py'),
                          run_name='model_zoo')
    assert tool['main'](['--check']) == 0
    page = (ROOT / 'docs/model_zoo.md').read_text()
    assert all(f'(../{config})' in page for config in CONFIGS)
    assert '(docs/model_zoo.md)' in (ROOT / 'README.md').read_text()


def test_measured_numbers_are_written_from_their_record():
    """An entry with ``Record:`` gets its metrics from that record, typed
    numbers are replaced; a record of another config is refused."""
    tool = runpy.run_path(str(ROOT / 'tools/misc/model_zoo.py'),
                          run_name='model_zoo')
    text = (ROOT / 'configs/synthetic/metafile.yml').read_text()
    typed = text.replace('{mask AP: ', '{mask AP: 99.9, was: ', 1)
    assert typed != text
    assert tool['metafile_with_records'](typed) == text
    record = yaml.safe_load(text)['Models'][0]['Record']
    other = text.replace(
        'Config: configs/synthetic/mask-rcnn_se-r50-apa-tiny_fpn_synthetic'
        '-lvis.py', 'Config: configs/other.py', 1)
    with pytest.raises(ValueError, match=f'{record} is a record of'):
        tool['metafile_with_records'](other)
