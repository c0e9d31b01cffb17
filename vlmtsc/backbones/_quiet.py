"""Log lines that libraries print while vlmtsc imports them, kept for who asks.

Importing peft imports bitsandbytes, which on CPUs with AVX512-BF16 asks the
``kernels`` package for an optional 4-bit kernel from the model hub; offline, that
logs a "Skipping publisher trust check ... offline mode" warning (``kernels``)
or a "kernels-community" warning (``bitsandbytes``) that a user cannot act on:
bitsandbytes falls back to its own kernel. vlmtsc imports these libraries inside
:func:`quiet_library_logs`, which shows their lines only to a user who asked
for detail (``verbose`` and logging at INFO), and otherwise leaves every logger
as it found it.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

__all__ = ["NOISY_LOGGERS", "import_peft", "progress_bars", "quiet_library_logs"]

NOISY_LOGGERS = ("kernels", "bitsandbytes")
"""Loggers whose import-time lines vlmtsc shows only on request."""


@contextlib.contextmanager
def quiet_library_logs(verbose: int = 0) -> Iterator[None]:
    """Hide the :data:`NOISY_LOGGERS`' lines below ERROR inside the block.

    They show when ``verbose`` is set and the logger is enabled for INFO
    (``logging.basicConfig(level=logging.INFO)`` or the logger's own level):
    the user asked for library detail. The loggers' levels are restored after.

    Examples
    --------
    >>> import logging
    >>> with quiet_library_logs(verbose=0):
    ...     logging.getLogger("kernels.hub").warning("not shown")
    """
    loggers = [logging.getLogger(name) for name in NOISY_LOGGERS]
    if verbose and all(lg.isEnabledFor(logging.INFO) for lg in loggers):
        yield
        return
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def import_peft(verbose: int = 0):
    """Import peft (and with it bitsandbytes) under :func:`quiet_library_logs`.

    Their import-time lines come once per process, from whichever import comes
    first: vlmtsc calls this before anything that may import them (adding
    adapters, training). bitsandbytes' import also compiles a kernel, which
    imports torch's inductor, whose modules use the deprecated
    ``torch.jit.script_method`` (torch's own DeprecationWarning, nothing a
    caller can change): that warning is dropped here too. Older peft releases
    import bitsandbytes only when they first add an adapter, so it is imported
    here, quietly, when installed.

    Returns
    -------
    module
        The ``peft`` package.
    """
    with quiet_library_logs(verbose), warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r"`torch\.jit\.script_method` is deprecated",
            category=DeprecationWarning,
        )
        import peft
        from peft.import_utils import is_bnb_available

        if is_bnb_available():
            import bitsandbytes  # noqa: F401
    return peft


@contextlib.contextmanager
def progress_bars(enabled) -> Iterator[None]:
    """transformers' progress bars (loading, saving) on or off inside the block.

    Off only turns them off: bars a user switched off stay off when ``enabled``.
    """
    if enabled:
        yield
        return
    from transformers.utils import logging as transformers_logging

    was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            transformers_logging.enable_progress_bar()
