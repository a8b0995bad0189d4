"""Ctrl-C that lets the current training step finish.

A GAN step changes D (and its optimiser), then G. Python turns Ctrl-C into a
``KeyboardInterrupt`` at whatever line is running, which is usually inside a step: stopping
there would leave D one update ahead of G, and a checkpoint written then would resume into
a different run. :class:`StopRequest` replaces the interrupt by a *request*: the signal
handler only sets a flag, the training loop looks at it between steps, and stops after the
step it is in, with a checkpoint of that step.

The same holds for the Jupyter "interrupt the kernel" button (it sends SIGINT to the
kernel) and for SIGTERM (what ``kill``, job schedulers and torchrun send to stop a
process). A second Ctrl-C more than a second after the first stops at once (a plain
``KeyboardInterrupt``), for a step that takes too long; torchrun forwards the terminal's
Ctrl-C to its workers, so each worker may see the same press twice within milliseconds,
which counts as one.

It also takes over where the shell started the process with SIGINT ignored (a background
job, ``cmd &``), so ``kill -INT`` stops such a run cleanly too. Signal handlers can only be
set in the main thread; elsewhere (a thread of a web app, say)
:class:`StopRequest` does nothing and Ctrl-C behaves as usual.
"""

from __future__ import annotations

import signal
import threading
import time

ESCAPE_AFTER_S = 1.0  # a second SIGINT later than this after the first one stops at once


class StopRequest:
    """``with StopRequest() as stop: ... if stop.requested: break``.

    ``signal_name`` says which signal asked ("SIGINT" or "SIGTERM"), ``None`` until one did.
    The previous handlers are put back on exit.
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)):
        self.signals = signals
        self.signal_name: str | None = None
        self._first_at = 0.0
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def _handle(self, signum, frame) -> None:
        now = time.monotonic()
        if self.requested and signum == signal.SIGINT and now - self._first_at > ESCAPE_AFTER_S:
            raise KeyboardInterrupt  # asked twice: stop now, mid-step if need be
        if not self.requested:
            self.signal_name, self._first_at = signal.Signals(signum).name, now

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for s in self.signals:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()
