# Copyright (c) apa_mmdet contributors.
"""One training step of a detector on a device."""
import torch


def _demo_inputs(model, device: str, num_classes: int, with_mask: bool):
    from mmdet.testing import demo_mm_inputs
    packed = demo_mm_inputs(2, [[3, 128, 128], [3, 96, 112]],
                            num_items=[3, 2], num_classes=num_classes,
                            with_mask=with_mask)
    return model.data_preprocessor(packed, True)


def build_model(model_cfg: dict) -> torch.nn.Module:
    """``model_cfg`` built with the same random weights every time."""
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    return MODELS.build(model_cfg)


def training_step(model: torch.nn.Module, device: str) -> str:
    """One forward (loss) and backward of ``model`` on ``device``: finite
    losses, and a gradient for every APA/AGLU parameter."""
    model = model.to(device)
    model.train()
    head = model.roi_head.bbox_head
    heads = head if isinstance(head, (list, torch.nn.ModuleList)) else [head]
    data = _demo_inputs(model, device, heads[0].num_classes,
                        getattr(model.roi_head, 'with_mask', False))
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    if not torch.isfinite(total):
        raise RuntimeError(f'loss {total.item()}')
    total.backward()
    missing = [name for name, p in model.named_parameters()
               if name.endswith(('lambda_param', 'kappa_param'))
               and p.requires_grad and p.grad is None]
    if missing:
        raise RuntimeError(f'no gradient for {", ".join(missing[:5])}')
    return f'loss {total.item():.3f}, every λ, κ has a gradient'
