"""A/B on the GPU: host time per AGLU fwd+bwd and SE-R50-APA fwd+bwd, for
the apa_mmdet found first on sys.path (run with cwd = the variant's root)."""
import statistics, sys, time
import torch
import apa_mmdet
from apa_mmdet.ops import aglu
from mmdet.registry import MODELS
import apa_mmdet.models  # noqa
tag = sys.argv[1]
x = torch.randn(1, 8, 4, 4, device='cuda', requires_grad=True)
lam = torch.full((8, ), .5, device='cuda', requires_grad=True)
kappa = torch.ones(8, device='cuda', requires_grad=True)
f = lambda: torch.autograd.grad(aglu(x, lam, kappa).sum(), (x, lam, kappa))
for _ in range(50): f()
torch.cuda.synchronize(); t = time.perf_counter()
for _ in range(500): f()
torch.cuda.synchronize()
per_call = (time.perf_counter() - t) / 500 * 1e6
apa_se = dict(ratio=16, norm_cfg=dict(type='LN'), dropout=0.1,
              act_cfg=(dict(type='ReLU'), dict(type='APA')))
b = MODELS.build(dict(type='APASEResNet', depth=50, frozen_stages=1, norm_eval=True,
    init_cfg=None, act_cfg=dict(type='AGLU'), se_cfg=apa_se)).cuda()
b.train()
xi = torch.randn(8, 3, 800, 1216, device='cuda')
def step():
    sum(o.float().sum() for o in b(xi)).backward()
for _ in range(2): step()
ts = []
for _ in range(5):
    torch.cuda.synchronize(); t = time.perf_counter(); step(); torch.cuda.synchronize()
    ts.append(time.perf_counter() - t)
print(f'{tag:4s} {apa_mmdet.__file__}: AGLU fwd+bwd host {per_call:7.1f} us/call; SE-R50-APA fwd+bwd {statistics.median(ts)*1e3:6.1f} ms')
