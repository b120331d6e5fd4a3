"""Model folders in the cache, written so that a crash or a second process never leaves a half-written one."""

import random
import shutil
from collections.abc import Callable
from pathlib import Path


def publish_folder(out: Path, write: Callable[[Path], None], is_current: Callable[[Path], bool]) -> Path:
    """`write(tmp)` into a temporary sibling of `out`, then rename it to `out` (last, so a crash never leaves a
    half-written model under the final name). A folder already at `out` that is not current (`is_current`) is
    moved aside and dropped; if another process published a current one first, that one is kept."""
    tmp = out.with_name(out.name + f".tmp{random.getrandbits(32):08x}")
    try:
        write(tmp)
        if out.exists() and not is_current(out):
            stale = out.with_name(out.name + f".stale{random.getrandbits(32):08x}")
            out.rename(stale)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            tmp.rename(out)
        except OSError:  # another process finished the same build first
            if not is_current(out):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
