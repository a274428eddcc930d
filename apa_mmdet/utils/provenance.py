# Copyright (c) apa_mmdet contributors.
"""Where a result comes from: the commit of the code that made it."""
import subprocess


def source_commit(root: str) -> str:
    """The git commit checked out at ``root``, ``+uncommitted`` added when
    tracked files differ from it; ``'unknown'`` outside a git checkout."""
    try:
        head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=root,
                              capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain',
                                '--untracked-files=no'], cwd=root,
                               capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'
    return head + ('+uncommitted' if dirty.strip() else '')
