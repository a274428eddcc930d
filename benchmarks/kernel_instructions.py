# Copyright (c) apa_mmdet contributors.
"""Instruction budget of the Triton APA/AGLU kernels on a Hopper GPU,
without a GPU.

Each kernel variant is compiled for sm_90 with Triton's own compiler and
ptxas, as it would be at launch (16-aligned tensors; one λ and κ, or one
per channel), and its machine code (SASS) is counted: instructions issued
per element, of which special-function (MUFU: exp2, reciprocal),
registers per thread. From the counts, a model of an H200 (132 SMs, four
schedulers each issuing one warp instruction per clock at 1.98 GHz, 16
MUFU results per SM per clock) gives the bandwidth at which instruction
issue alone would saturate, compared with the memory's 4.8 TB/s
(datasheet) and with the 4.3 TB/s a device-to-device copy was measured
at on an H200: above 1, the
kernel is bound by memory as a copy is. This is a model, not a
measurement; ``activation.py --device cuda`` measures on a GPU.

Usage: ``python -m benchmarks.kernel_instructions`` (with Triton
installed; ``TRITON_INTERPRET`` is ignored).
"""
import argparse
import os
import sys


SMS, SCHEDULERS, CLOCK_HZ, MUFU_PER_SM_CLOCK = 132, 4, 1.98e9, 16
HBM_BYTES_PER_S, COPY_BYTES_PER_S = 4.8e12, 4.3e12
THREADS = 128  # 4 warps
BYTES = {'fp32': 4, 'bf16': 2, 'fp16': 2}
TENSORS = {'forward': 2, 'backward': 3}  # x, out / grad, x, grad_x


def issue_bound_bytes_per_s(per_element: dict, direction: str,
                            dtype: str) -> float:
    """Bytes/s moved when instruction issue (or the MUFU unit) is the
    limit: one warp instruction is 32 elements' worth per clock per
    scheduler, one MUFU result per 1/16 clock per SM."""
    clocks_per_element = max(
        per_element['instructions'] / (32 * SCHEDULERS),
        per_element['mufu'] / MUFU_PER_SM_CLOCK) / SMS
    return CLOCK_HZ / clocks_per_element * TENSORS[direction] * BYTES[dtype]


def main(argv=None):
    argparse.ArgumentParser(description=__doc__.split('\n\n')[0]).parse_args(
        argv)
    os.environ.pop('TRITON_INTERPRET', None)
    from apa_mmdet.ops.triton_tiles import BLOCK
    from apa_mmdet.testing.triton_aot import compile_kernel, machine_code
    per_thread = BLOCK // THREADS
    sys.stdout.write(
        f'sm_90, {BLOCK} elements per program ({per_thread} per thread); '
        f'model: H200, memory {HBM_BYTES_PER_S / 1e12:.1f} TB/s, copy '
        f'{COPY_BYTES_PER_S / 1e12:.1f} TB/s\n'
        f'{"kernel":<30}{"instr/elem":>11}{"MUFU/elem":>10}{"regs":>6}'
        f'{"issue-bound TB/s":>18}{"x memory":>10}{"x copy":>8}\n')
    for direction in ('forward', 'backward'):
        for dtype in ('fp32', 'bf16', 'fp16'):
            for act, name in (('aglu', 'AGLU'), ('apa', 'APA')):
                for scalar in (True, False):
                    code = machine_code(compile_kernel(
                        direction, 90, dtype, act, 1, BLOCK,
                        scalar=scalar))
                    per_element = {k: code[k] / per_thread
                                   for k in ('instructions', 'mufu')}
                    bound = issue_bound_bytes_per_s(per_element, direction,
                                                    dtype)
                    label = (f'{direction} {dtype} {name} '
                             f'{"scalar" if scalar else "per-channel"}')
                    sys.stdout.write(
                        f'{label:<30}{per_element["instructions"]:>11.1f}'
                        f'{per_element["mufu"]:>10.2f}'
                        f'{code["registers"]:>6}{bound / 1e12:>18.2f}'
                        f'{bound / HBM_BYTES_PER_S:>10.2f}'
                        f'{bound / COPY_BYTES_PER_S:>8.2f}\n')


if __name__ == '__main__':
    main()
