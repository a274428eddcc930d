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

:func:`load_weights` serves the converter, which needs only the tensors of
a file that may hold other objects (the official Swin trainer saves its
yacs config): every type outside the allow-list becomes an
:class:`UnloadedObject`, so the tensors load and no code of the file runs.
"""
import os.path as osp
import pickle
import types
import zipfile
from collections import OrderedDict
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


class UnloadedObject:
    """Stands where :func:`load_weights` met an object of a type outside
    the allow-list: made by this class alone, from none of the file's data,
    so none of the file's code runs. ``type_name``: the type the file
    named."""
    type_name = ''

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, item):
        pass

    def extend(self, items):
        pass

    def __repr__(self) -> str:
        return f'<not loaded: {self.type_name}>'


def _placeholder_pickle_module(allowed: Sequence) -> types.ModuleType:
    """A ``pickle_module`` for :func:`torch.load` whose unpickler resolves
    torch's weights-only allow-list and ``allowed``, and every other global
    to an :class:`UnloadedObject` subclass named after it.

    Like torch's weights-only unpickler it calls and builds only what it
    resolved: REDUCE calls a resolved callable or a placeholder type,
    NEWOBJ and BUILD take a resolved class or a placeholder (never a class
    object itself, whose attributes BUILD would set), SETITEM(S) and
    APPEND(S) fill dicts, lists and placeholders only, and the
    protocol-0/1 and extension-registry opcodes are refused.
    """
    from torch._weights_only_unpickler import _get_allowed_globals
    resolved = dict(_get_allowed_globals())
    for entry in allowed:
        obj, name = entry if isinstance(entry, tuple) else (
            entry, f'{entry.__module__}.{entry.__qualname__}')
        resolved[name] = obj
    callables = list(resolved.values())
    classes = {v for v in callables if isinstance(v, type)} | {
        torch.Tensor, torch.nn.Parameter, OrderedDict}

    def placeholder(value) -> bool:
        return isinstance(value, type) and issubclass(value, UnloadedObject)

    def refuse(what: str):
        raise pickle.UnpicklingError(f'refusing {what}')

    base = pickle._Unpickler  # the Python unpickler: its opcodes can be checked

    class Unpickler(base):
        dispatch = dict(base.dispatch)

        def find_class(self, module: str, name: str):
            full_name = f'{module}.{name}'
            if full_name in resolved:
                return resolved[full_name]
            return type(name, (UnloadedObject, ), dict(type_name=full_name))

        def _callable(self, func) -> None:
            if not (placeholder(func) or any(func is c for c in callables)):
                refuse(f'to call {func!r}')

        def _buildable(self, value) -> None:
            if not (isinstance(value, UnloadedObject)
                    or type(value) in classes):
                refuse(f'to build {type(value).__name__}')

        def load_reduce(self):
            self._callable(self.stack[-2])
            base.load_reduce(self)

        def load_newobj(self):
            cls = self.stack[-2]
            if not (placeholder(cls) or cls in classes):
                refuse(f'to create {cls!r}')
            base.load_newobj(self)

        def load_build(self):
            self._buildable(self.stack[-2])
            base.load_build(self)

        def load_setitem(self):
            self._container(self.stack[-3], (dict, OrderedDict))
            base.load_setitem(self)

        def load_setitems(self):
            items = self.pop_mark()
            target = self.stack[-1]
            self._container(target, (dict, OrderedDict))
            for i in range(0, len(items), 2):
                target[items[i]] = items[i + 1]

        def load_append(self):
            self._container(self.stack[-2], (list, ))
            base.load_append(self)

        def load_appends(self):
            items = self.pop_mark()
            target = self.stack[-1]
            self._container(target, (list, ))
            for item in items:
                target.append(item)

        def _container(self, target, kinds) -> None:
            if not (type(target) in kinds
                    or isinstance(target, UnloadedObject)):
                refuse(f'to fill {type(target).__name__}')

        def load_refused(self):
            refuse('a protocol-0/1 or extension-registry opcode')

    for opcode, method in (
            (pickle.REDUCE, Unpickler.load_reduce),
            (pickle.NEWOBJ, Unpickler.load_newobj),
            (pickle.BUILD, Unpickler.load_build),
            (pickle.SETITEM, Unpickler.load_setitem),
            (pickle.SETITEMS, Unpickler.load_setitems),
            (pickle.APPEND, Unpickler.load_append),
            (pickle.APPENDS, Unpickler.load_appends)):
        Unpickler.dispatch[opcode[0]] = method
    for opcode in (pickle.NEWOBJ_EX, pickle.INST, pickle.OBJ, pickle.EXT1,
                   pickle.EXT2, pickle.EXT4):
        Unpickler.dispatch[opcode[0]] = Unpickler.load_refused

    module = types.ModuleType('apa_mmdet_placeholder_pickle')
    module.Unpickler = Unpickler
    module.load = lambda file, **kwargs: Unpickler(file, **kwargs).load()
    return module


def _is_torchscript(file: str) -> bool:
    """Whether ``file`` is a TorchScript archive (which ``torch.load``
    without ``weights_only`` hands to ``torch.jit.load``)."""
    if not zipfile.is_zipfile(file):
        return False
    with zipfile.ZipFile(file) as archive:
        return any(name.rsplit('/', 1)[-1] == 'constants.pkl'
                   for name in archive.namelist())


def load_weights(file: str, map_location=None,
                 extra_safe_globals: Sequence = ()):
    """Load a checkpoint's tensors and plain data; objects of any other type
    become :class:`UnloadedObject` (see :func:`unloaded_entries`).

    Args and returns as :func:`safe_load`, but no type is refused; a
    TorchScript archive is (it is a program, not a checkpoint).
    """
    if _is_torchscript(file):
        raise ValueError(f'{file} is a TorchScript archive, not a checkpoint')
    allowed = [*MMENGINE_SAFE_GLOBALS, *extra_safe_globals]
    try:
        return torch.load(file, weights_only=False,
                          map_location=map_location,
                          pickle_module=_placeholder_pickle_module(allowed))
    except (pickle.UnpicklingError, EOFError, KeyError) as err:
        # KeyError: an opcode the Python unpickler does not know
        raise ValueError(f'{file} is not a PyTorch checkpoint '
                         f'({type(err).__name__}: {err})') from None


def unloaded_entries(obj, path: str = '') -> List[Tuple[str, str]]:
    """(entry, type name) of every :class:`UnloadedObject` inside ``obj``'s
    dicts, lists and tuples; entries are written ``a.b[0]``."""
    if isinstance(obj, UnloadedObject):
        return [(path or '<the file itself>', obj.type_name)]
    if isinstance(obj, dict):
        items = ((f'{path}.{k}' if path else str(k), v)
                 for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        items = ((f'{path}[{i}]', v) for i, v in enumerate(obj))
    else:
        return []
    return [found for entry, value in items
            for found in unloaded_entries(value, entry)]


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
