# Copyright (c) apa_mmdet contributors.
"""The Triton APA kernels compiled ahead of time for a GPU architecture
with Triton's own compiler and ptxas (no GPU needed), and what their
machine code holds. Run with ``TRITON_INTERPRET`` unset."""
import os
import re
import subprocess
import tempfile

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from apa_mmdet.ops import triton_kernel, triton_se_end, triton_tiles

KERNELS = {'forward': triton_kernel._apa_forward_kernel,
           'backward': triton_kernel._apa_backward_kernel,
           'scale_add_forward': triton_se_end._scale_add_forward_kernel,
           'scale_add_backward': triton_se_end._scale_add_backward_kernel,
           'parameter_grads': triton_tiles.parameter_grads_kernel}
_TOOLS = os.path.join(os.path.dirname(triton.__file__), 'backends', 'nvidia',
                      'bin')


def compile_kernel(direction: str, arch: int, dtype: str, act: str,
                   block_r: int, block_i: int, wide: bool = False,
                   scalar: bool = False, channels_last: bool = False):
    """The compiled kernel ``direction`` (a key of ``KERNELS``) for
    ``sm_<arch>`` with tensors of ``dtype``
    ('fp32', 'bf16', 'fp16') and 16-aligned pointers and rows, as Triton
    specializes them at launch; ``scalar``: one λ and κ (rows = channels
    = 1, which Triton makes constants); ``channels_last``: per-lane λ, κ
    of rows of C channels."""
    kernel = KERNELS[direction]
    constants = dict(AGLU=act == 'aglu', BLOCK_R=block_r, BLOCK_I=block_i,
                     WIDE=wide, CHANNELS_LAST=channels_last,
                     BLOCK=triton_tiles.REDUCE_BLOCK)
    constants = {name: value for name, value in constants.items()
                 if name in kernel.arg_names}
    if scalar:
        constants.update(rows=1, channels=1)
    signature = {}
    for name in kernel.arg_names:
        if name.isupper() or name in constants:
            signature[name] = 'constexpr'
        elif name.startswith(('lambda', 'kappa', 'partial')):
            signature[name] = '*fp32'
        else:
            signature[name] = '*' + dtype if name.endswith('_ptr') else 'i32'
    aligned = {(i, ): [['tt.divisibility', 16]]
               for i, name in enumerate(kernel.arg_names)
               if name.endswith('_ptr') or name == 'inner'}
    return triton.compile(
        ASTSource(kernel, signature, constants, aligned),
        target=GPUTarget('cuda', arch, 32),
        options=dict(enable_fp_fusion=True))


def wide_accesses(compiled) -> tuple[int, int]:
    """(128-bit global loads, 128-bit global stores) in the PTX."""
    ptx = compiled.asm['ptx']
    return (len(re.findall(r'ld\.global[.a-z0-9]*\.v4', ptx)),
            len(re.findall(r'st\.global[.a-z0-9]*\.v4', ptx)))


def machine_code(compiled) -> dict:
    """Instructions issued per thread (SASS, straight-line: NOP, BRA and
    EXIT not counted), of which MUFU (special-function unit), registers
    and spill bytes per thread."""
    with tempfile.TemporaryDirectory() as folder:
        cubin = os.path.join(folder, 'kernel.cubin')
        with open(cubin, 'wb') as file:
            file.write(compiled.asm['cubin'])
        sass, usage = (subprocess.run(
            [os.path.join(_TOOLS, 'cuobjdump'), option, cubin],
            check=True, capture_output=True, text=True).stdout
                       for option in ('-sass', '-res-usage'))
    opcodes = re.findall(r'/\*[0-9a-f]{4}\*/\s+(?:@!?U?P\w+\s+)?([A-Z0-9_]+)',
                         sass)
    issued = [op for op in opcodes if op not in ('NOP', 'BRA', 'EXIT')]
    return dict(instructions=len(issued), mufu=issued.count('MUFU'),
                registers=int(re.search(r'REG:(\d+)', usage).group(1)),
                spill_bytes=int(re.search(r'LOCAL:(\d+)', usage).group(1)))
