# Copyright (c) apa_mmdet contributors.
"""The end of a distributed run, for the tools that start one."""
import torch.distributed as dist


def end_process_group() -> None:
    """Wait for every rank, then tear the default process group down (a
    no-op outside a distributed run). A gloo group left to the
    interpreter's exit can abort a rank whose peers have already gone
    ("terminate called without an active exception", SIGABRT) after its
    work is done, failing a multi-node job that succeeded."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
