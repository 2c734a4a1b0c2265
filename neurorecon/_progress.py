"""Progress of long steps, with a time estimate (tqdm): the one mechanism behind every ``progress=``.

Every long-running entry point (``ReconstructionClassifier``, ``train_dataset``, ``simulate``,
``predict_network``, the report) takes the same ``progress`` option:

* ``None`` or ``False``: silent (the Python API's default);
* ``True``: on stderr, as tqdm bars with the time left when stderr is a terminal, as plain lines
  (``[neurorecon] Lava batches: 2/5 [00:03<00:04, 1.60s/it]``) when it is not (logs, pipes);
* a callable taking one ``str``: it receives the same plain lines (e.g. ``print`` or a logger).

The command line passes ``True`` unless ``--quiet`` or ``--json`` is given. Loops report each
step as it ends (after a line at the start, so a slow first step is not silent).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Callable, Iterable, Iterator, TypeVar, Union

from tqdm import tqdm

from neurorecon.errors import NeuroreconError

ProgressOption = Union[bool, Callable[[str], None], None, "Progress"]
PREFIX = "[neurorecon] "
LINE_FORMAT = "{desc}: {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]"
T = TypeVar("T")


class Progress:
    """Where progress goes (see the module docstring for the accepted options)."""

    def __init__(self, option: ProgressOption = None):
        if isinstance(option, Progress):
            option = option.option
        if not (option is None or isinstance(option, bool) or callable(option)):
            raise NeuroreconError(f"progress must be None, True/False or a callable taking a str; got {option!r}")
        self.option = option

    @property
    def enabled(self) -> bool:
        return bool(self.option)

    def _terminal(self) -> bool:
        if self.option is True and sys.stderr.isatty():
            _thread_lock()
            return True
        return False

    def _line(self, text: str) -> None:
        if self.option is True:
            sys.stderr.write(PREFIX + text + "\n")
            sys.stderr.flush()
        elif self.option:
            self.option(text)

    def say(self, message: str) -> None:
        """One message (a bar in progress on a terminal stays intact)."""
        if not self.enabled:
            return
        if self._terminal():
            tqdm.write(PREFIX + message, file=sys.stderr)
        else:
            self._line(message)

    def steps(self, iterable: Iterable[T], total: int, what: str) -> Iterator[T]:
        """Iterate ``iterable`` (``total`` items), reporting each finished step with the time left."""
        if not self.enabled:
            yield from iterable
            return
        if self._terminal():
            yield from tqdm(iterable, total=total, desc=PREFIX + what, file=sys.stderr, dynamic_ncols=True)
            return
        started = time.perf_counter()

        def meter(k: int) -> str:
            return tqdm.format_meter(k, total, time.perf_counter() - started, prefix=what, bar_format=LINE_FORMAT)

        self._line(meter(0))
        k = 0
        try:
            for k, item in enumerate(iterable, 1):
                yield item
                self._line(meter(k))
        except GeneratorExit:  # the loop stopped early (e.g. the beta path once validation stops improving)
            elapsed = tqdm.format_interval(time.perf_counter() - started)
            self._line(f"{what}: {k}/{total} [{elapsed}]" + ("" if k == total else ", done early"))
            raise


def _thread_lock() -> None:
    """Give tqdm a threading lock before its first bar: its default creates a multiprocessing lock,
    which fixes the process's start method, and Lava, imported later, then fails to set its own."""
    if not hasattr(tqdm, "_lock"):
        tqdm.set_lock(threading.RLock())


def as_progress(option: ProgressOption) -> Progress:
    """The :class:`Progress` for a ``progress=`` option (a Progress passes through)."""
    return option if isinstance(option, Progress) else Progress(option)
