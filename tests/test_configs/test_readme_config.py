# Copyright (c) apa_mmdet contributors.
"""README.md's "Use it in your own config" block is a config that loads
and builds: an mmdet detector with the APA SE-R50, AGLU in the neck and
the Gumbel Optimised Loss."""
import re

from mmengine.config import Config

from tests.helpers.configs import CONFIG_ROOT

ROOT = CONFIG_ROOT.parent


def test_the_readme_config_builds(tmp_path):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    readme = (ROOT / 'README.md').read_text()
    (block, ) = [b for b in re.findall(r'```python\n(.*?)```', readme, re.S)
                 if 'custom_imports' in b]
    assert "'path/to/apa_mmdet/configs/" in block
    config = tmp_path / 'my_config.py'
    config.write_text(block.replace('path/to/apa_mmdet/configs/',
                                    f'{CONFIG_ROOT}/'))
    register_all_modules()
    model = MODELS.build(Config.fromfile(str(config)).model)
    assert type(model.backbone).__name__ == 'APASEResNet'
    assert type(model.neck.fpn_convs[0].activate).__name__ == 'AGLU'
    loss = model.roi_head.bbox_head.loss_cls
    assert type(loss).__name__ == 'APADropLoss' and loss.num_classes == 1203
