# Copyright (c) apa_mmdet contributors.
"""Loading a checkpoint's tensors and plain data when it also holds objects
of other types, without running any of its code.

:func:`load_weights` serves the converter, which needs only the tensors of
a file that may hold other objects (the official Swin trainer saves its
yacs config): every type outside the allow-list of
:mod:`.checkpoint` becomes an :class:`UnloadedObject`, so the tensors load
and no code of the file runs.
"""
import pickle
import types
import zipfile
from collections import OrderedDict
from typing import List, Sequence, Tuple

import torch

from .checkpoint import MMENGINE_SAFE_GLOBALS


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

    # the Python unpickler: its opcodes can be checked
    base = pickle._Unpickler

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
