# Copyright (c) apa_mmdet contributors.
"""Safe checkpoint loading for torch >= 2.6 and mmengine 0.10.7.

torch >= 2.6 unpickles with ``weights_only=True``: only an allow-list of
globals may be reconstructed. mmengine checkpoints carry a few more than
torch allows by default (the ``message_hub`` holds ``HistoryBuffer`` objects
with NumPy arrays and scalars), so ``--resume`` and ``load_from`` fail.

This module allow-lists exactly those types, scoped to each load (torch's
global allow-list is left untouched); :func:`register_local_loader` (which
``import apa_mmdet`` calls) makes it mmengine's loader for local paths in
its ``CheckpointLoader`` registry, which ``load_from``, ``--resume`` and
``init_cfg=dict(type='Pretrained')`` all go through. A file that needs any
other global is refused before anything in it runs.

Loading a file's tensors while every other type stays unloaded (the
converter's need): :mod:`.placeholder_unpickler`.
"""
import os.path as osp
import pickle
from typing import IO, Callable, List, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

# NumPy 2 moved numpy.core to numpy._core.
_multiarray = (np._core if hasattr(np, '_core') else np.core).multiarray


_BUILTIN_STATISTICS = {'min', 'max', 'current', 'mean'}


def _history_buffer_getattr(obj, name: str):
    """``getattr`` restricted to ``HistoryBuffer``'s statistics methods.

    ``HistoryBuffer`` pickles its statistics (``min``, ``max``, ``mean``,
    ``current`` and registered ones) by reference, which pickle encodes as
    ``getattr(HistoryBuffer, 'min')``. Nothing else may be looked up.
    """
    allowed = _BUILTIN_STATISTICS | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed: only HistoryBuffer '
        'statistics methods may be resolved')


# Concrete classes of the bool, integer and float dtypes (numpy.dtypes.*).
_NUMERIC_DTYPE_CLASSES = sorted(
    {type(np.dtype(code))
     for code in '?' + np.typecodes['AllInteger'] + np.typecodes['AllFloat']},
    key=lambda cls: cls.__name__)

# (object, name as written in the pickle): NumPy 1.x files name the
# multiarray helpers under ``numpy.core``, NumPy 2.x under ``numpy._core``.
MMENGINE_SAFE_GLOBALS: List[Union[Callable, Tuple[Callable, str]]] = [
    HistoryBuffer,
    (_history_buffer_getattr, 'builtins.getattr'),
    np.ndarray,
    np.dtype,
    *_NUMERIC_DTYPE_CLASSES,
    (_multiarray._reconstruct, 'numpy._core.multiarray._reconstruct'),
    (_multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
    (_multiarray.scalar, 'numpy._core.multiarray.scalar'),
    (_multiarray.scalar, 'numpy.core.multiarray.scalar'),
]


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs a global outside the allow-list; nothing ran."""


def safe_load(file: Union[str, IO[bytes]],
              map_location=None,
              extra_safe_globals: Sequence = ()):
    """``torch.load(file, weights_only=True)`` allowing mmengine's types.

    Args:
        file (str | file-like): Checkpoint path or open binary file.
        map_location: As in :func:`torch.load`. Defaults to None.
        extra_safe_globals (Sequence): More types to allow for this load,
            in :func:`torch.serialization.safe_globals` form. Defaults to ().

    Returns:
        The unpickled object (usually a dict with ``state_dict``/``meta``).

    Raises:
        ValueError: The file is not a checkpoint at all.
        UnsafeCheckpointError: The file needs a global that is not in
            ``MMENGINE_SAFE_GLOBALS`` or torch's own allow-list, e.g. a
            crafted pickle that would run a command. Nothing is executed.
    """
    allowed = [*MMENGINE_SAFE_GLOBALS, *extra_safe_globals]
    with torch.serialization.safe_globals(allowed):
        try:
            return torch.load(file, weights_only=True,
                              map_location=map_location)
        except pickle.UnpicklingError as err:
            name = file if isinstance(file, str) else getattr(
                file, 'name', '<buffer>')
            if not _has_checkpoint_magic(file):
                raise ValueError(
                    f'{name} is not a PyTorch checkpoint: neither a zip '
                    'archive (torch.save) nor a pickle') from None
            raise UnsafeCheckpointError(
                f'refusing to load checkpoint {name}: '
                f'{_disallowed_globals(file, allowed) or _torch_reason(err)}. '
                'Only the allow-list apa_mmdet.utils.checkpoint.'
                'MMENGINE_SAFE_GLOBALS and torch\'s own safe types may be '
                'unpickled; the file was not loaded and nothing in it was '
                'run.') from None


def _has_checkpoint_magic(file: Union[str, IO[bytes]]) -> bool:
    """Whether ``file`` starts like a zip archive or a binary pickle."""
    if isinstance(file, str):
        with open(file, 'rb') as f:
            head = f.read(4)
    else:
        file.seek(0)
        head = file.read(4)
    return head.startswith((b'PK\x03\x04', b'\x80'))


def _torch_reason(err: Exception) -> str:
    """The one informative line of torch's weights-only error."""
    text = str(err)
    marker = 'WeightsUnpickler error:'
    if marker in text:
        text = text.split(marker, 1)[1].strip().split('\n\n')[0]
    return text


def _disallowed_globals(file: Union[str, IO[bytes]], allowed: list) -> str:
    """Name the globals of ``file`` outside ``allowed``, without loading."""
    names = {
        entry[1] if isinstance(entry, tuple) else
        f'{entry.__module__}.{entry.__qualname__}'
        for entry in allowed
    }
    try:
        if not isinstance(file, str):
            file.seek(0)
        found = torch.serialization.get_unsafe_globals_in_checkpoint(file)
    except Exception:  # legacy (non-zip) files cannot be scanned
        return ''
    unsafe = sorted(set(found) - names)
    return f'it needs {", ".join(unsafe)}' if unsafe else ''


def load_from_local(filename: str, map_location=None):
    """mmengine's local-path loader, unpickling only allow-listed types."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_load(filename, map_location=map_location)


def register_local_loader() -> None:
    """Make :func:`load_from_local` mmengine's ``CheckpointLoader`` for
    local paths (in place of its own, which torch >= 2.6 refuses mmengine
    checkpoints with)."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local,
                                     force=True)
