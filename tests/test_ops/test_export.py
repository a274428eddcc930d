# Copyright (c) apa_mmdet contributors.
"""APA/AGLU leave PyTorch as plain operators: torch.export's program and
the ONNX graph (torch.onnx's exporter, opset 18, dynamic batch and size)
hold the formula, no custom or Python operator; onnxruntime and the
exported program equal eager PyTorch (fused kernel) within 1e-4 relative,
element by element, at the formula's extremes (|z| up to 100, λ at and
below the 1e-4 floor). The switch is automatic: nothing is set."""
import numpy as np
import pytest
import torch
from mmdet.registry import MODELS

from apa_mmdet.models.layers import AGLU, APA
from apa_mmdet.ops import cpu_kernel_available, dispatch

ort = pytest.importorskip('onnxruntime')
onnx = pytest.importorskip('onnx')

Z = torch.cat([torch.linspace(-100, 100, 2001), torch.linspace(-3, 3, 61)])
LAMBDA = [1e-6, 1e-4, 0.3, 5.0]
KAPPA = [1.0, -2.0, 0.7, 3.0]


def extreme_layer(cls, dim=1):
    layer = cls(num_parameters=4, dim=dim).eval()
    with torch.no_grad():
        layer.lambda_param.copy_(torch.tensor(LAMBDA))
        layer.kappa_param.copy_(torch.tensor(KAPPA))
    return layer


def relative(got, expected):
    """Largest element-wise relative error where the value is not 0."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected,
                                                            np.float64)
    big = np.abs(expected) > 1e-30
    return (np.abs(got - expected)[big] / np.abs(expected)[big]).max()


def onnx_run(model, inputs, path, dynamic_shapes=None):
    program = torch.onnx.export(model, inputs, dynamo=True, opset_version=18,
                                dynamic_shapes=dynamic_shapes,
                                verbose=False)
    program.save(str(path))
    graph = onnx.load(str(path)).graph
    session = ort.InferenceSession(str(path))
    return graph, session


def narrow_apa_backbone(type='APASEResNet', **options):
    """A narrow APA backbone of depth 50 in the official layout (AGLU
    sites, fused SE ends, LayerNorm + APA gate), seeded, in eval mode."""
    torch.manual_seed(0)
    cfg = dict(
        type=type, depth=50, base_channels=4, stem_channels=4,
        act_cfg=dict(type='AGLU'), se_cfg=dict(
            ratio=4, norm_cfg=dict(type='LN'), dropout=0.1,
            act_cfg=(dict(type='ReLU'), dict(type='APA'))),
        init_cfg=None, zero_init_residual=False)
    backbone = MODELS.build({**cfg, **options})
    backbone.eval()  # mmdet's ResNet.train returns None: not chained
    return backbone


LAYERS = [
    (APA, 1, lambda: Z.view(1, 1, -1).expand(2, 4, -1).reshape(2, 4, 2062)),
    (AGLU, 1, lambda: Z.view(1, 1, -1).expand(2, 4, -1).reshape(2, 4, 2062)),
    (AGLU, -1, lambda: Z.view(-1, 1).expand(-1, 4).reshape(2, 1031, 4)),
]


@pytest.mark.parametrize('strict', [False, True],
                         ids=['non-strict', 'strict'])
@pytest.mark.parametrize('cls,dim,make', LAYERS,
                         ids=['apa', 'aglu', 'aglu-tokens'])
def test_torch_export_holds_the_formula(cls, dim, make, strict):
    """Both of torch.export's tracers: Python (non-strict, the default)
    and dynamo (strict), which keeps exporting()'s answer as a constant."""
    assert cpu_kernel_available()  # eager runs the fused kernel
    layer, x = extreme_layer(cls, dim), make().contiguous()
    program = torch.export.export(layer, (x, ), strict=strict)
    targets = {str(node.target) for node in program.graph.nodes
               if node.op == 'call_function'}
    assert not [t for t in targets if 'apa_mmdet' in t or 'autograd' in t]
    assert 'aten.softplus.default' in targets
    with torch.no_grad():
        assert relative(program.module()(x), layer(x)) < 1e-4
    assert dispatch.select(x).name == 'cpu'  # back to the kernel after


@pytest.mark.parametrize('cls,dim,make', LAYERS,
                         ids=['apa', 'aglu', 'aglu-tokens'])
def test_onnx_graph_is_standard_operators_and_equal(tmp_path, cls, dim,
                                                    make):
    layer, x = extreme_layer(cls, dim), make().contiguous()
    batch = torch.export.Dim('batch', max=64)
    graph, session = onnx_run(layer, (x, ), tmp_path / 'layer.onnx',
                              dynamic_shapes=({0: batch}, ))
    assert all(node.domain in ('', 'ai.onnx') for node in graph.node)
    assert {'Softplus', 'Exp'} <= {node.op_type for node in graph.node}
    for batch_size in (2, 5):  # another batch than the traced one
        xb = x.repeat(3, 1, 1)[:batch_size]
        out = session.run(None, {session.get_inputs()[0].name:
                                 xb.numpy()})[0]
        assert relative(out, layer(xb).detach()) < 1e-4


needs_triton = pytest.mark.skipif(
    not torch.cuda.is_available() or not dispatch.triton_kernel_available(),
    reason='the Triton kernels need a CUDA GPU and Triton')


@needs_triton
@pytest.mark.parametrize('cls,dim,make', LAYERS,
                         ids=['apa', 'aglu', 'aglu-tokens'])
def test_cuda_export_steps_the_triton_kernel_aside(cls, dim, make):
    """On a GPU eager runs the Triton kernel; torch.export's program holds
    the formula instead and equals it on the GPU."""
    layer = extreme_layer(cls, dim).cuda()
    x = make().contiguous().cuda()
    assert dispatch.select(x).name == 'triton'
    program = torch.export.export(layer, (x, ))
    targets = {str(node.target) for node in program.graph.nodes
               if node.op == 'call_function'}
    assert not [t for t in targets if 'apa_mmdet' in t or 'autograd' in t]
    with torch.no_grad():
        assert relative(program.module()(x).cpu(), layer(x).cpu()) < 1e-4


@needs_triton
def test_cuda_backbone_export_equals_eager():
    """The narrow APA SE-ResNet-50 exported on a GPU (dynamic batch and
    size) equals the eager backbone, whose sites run the Triton kernels."""
    backbone = narrow_apa_backbone().cuda()
    x = torch.randn(2, 3, 64, 96, device='cuda')  # a batch of 1 specialises
    dims = {0: torch.export.Dim('batch', max=8),
            2: 32 * torch.export.Dim('h', min=1, max=32),
            3: 32 * torch.export.Dim('w', min=1, max=32)}
    program = torch.export.export(backbone, (x, ), dynamic_shapes=(dims, ))
    xb = torch.randn(2, 3, 96, 64, device='cuda') * 3
    with torch.no_grad():
        for out, ref in zip(program.module()(xb), backbone(xb)):
            assert out.shape == ref.shape
            assert (out - ref).abs().max() <= 1e-4 * ref.abs().max()


def test_compiled_graphs_are_not_exports():
    """torch.compile keeps exporting()'s answer at trace time, False, on
    every torch version (2.11's dynamo answered is_exporting() with True
    inside any trace)."""
    from apa_mmdet.ops.functional import exporting
    torch._dynamo.reset()
    compiled = torch.compile(lambda x: x + 1 if exporting() else x,
                             backend='eager', fullgraph=True)
    x = torch.zeros(2)
    assert torch.equal(compiled(x), x)

    class AddOneIfExporting(torch.nn.Module):

        def forward(self, x):
            return x + 1 if exporting() else x

    for strict in (False, True):
        program = torch.export.export(AddOneIfExporting(), (x, ),
                                      strict=strict)
        assert torch.equal(program.module()(x), x + 1)
    torch._dynamo.reset()


def test_apa_se_resnext_exports_with_dynamic_batch_and_size(tmp_path):
    """The first two stages of a narrow APA SE-ResNeXt-50 (grouped 3x3
    convs, per-channel AGLU, the official LN + APA gate, a strided stage;
    the whole SE-ResNet is exported by the tool's journey,
    tests/test_tools/test_export_onnx.py) through ONNX: standard
    operators, every level equal in onnxruntime on another batch and
    size."""
    backbone = narrow_apa_backbone(
        'APASEResNeXt', groups=2, base_width=2, num_stages=2,
        strides=(1, 2), dilations=(1, 1), out_indices=(0, 1),
        act_cfg=dict(type='AGLU', num_parameters='channels'))
    x = torch.randn(2, 3, 64, 64)
    dims = {0: torch.export.Dim('batch', max=8),
            2: 8 * torch.export.Dim('h', min=1, max=128),
            3: 8 * torch.export.Dim('w', min=1, max=128)}
    graph, session = onnx_run(backbone, (x, ), tmp_path / 'resnext.onnx',
                              dynamic_shapes=(dims, ))
    assert all(node.domain in ('', 'ai.onnx') for node in graph.node)
    xb = torch.randn(3, 3, 96, 64) * 3
    outs = session.run(None, {session.get_inputs()[0].name: xb.numpy()})
    with torch.no_grad():
        expected = backbone(xb)
    assert len(outs) == len(expected) == 2
    for out, ref in zip(outs, expected):
        assert out.shape == tuple(ref.shape)
        assert np.abs(out - ref.numpy()).max() <= 1e-4 * np.abs(
            ref.numpy()).max()
