"""One time budget for a whole SMTP conversation, and the watchdog that enforces it.

A timeout bounds each wait, not the conversation: a server that answers every
command just inside the timeout keeps a request busy for as long as it likes.
So a test, the opening of a connection, and the sending of one message each
get a :class:`Budget` (:func:`conversation_budget` seconds), and every wait is
bounded by what is left of it as well as by the timeout.

A TLS handshake or a ``sendall`` on a TLS socket is many reads and writes
inside one call, each allowed the full socket timeout, so a server that drips
bytes can stretch it. The :class:`Watchdog` closes that gap: one daemon thread
per process, with a heap of deadlines, shuts the connection down when its
budget runs out, which ends whatever call is blocked on it.

An HTTP request (an OAuth2 token's, an alert's) gets its own budget, or runs
within the one of the conversation it belongs to (:func:`within`): a token
endpoint that drips its answer cannot stretch a test past its deadline.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ..conf import get_setting
from ..exceptions import ConversationTimeout


def conversation_budget(timeout: float | None) -> float | None:
    """Seconds one conversation may take: three times ``timeout``, at most the cap.

    The cap is ``SMTPCONFIG["MAX_CONVERSATION_SECONDS"]``; None when there is
    neither a timeout nor a cap.
    """
    cap = get_setting("MAX_CONVERSATION_SECONDS")
    limits = [float(limit) for limit in (cap,) if limit]
    if isinstance(timeout, int | float) and timeout > 0:
        limits.append(3 * float(timeout))
    return min(limits) if limits else None


#: The longest timeout a profile may have (the model's validator).
MAX_PROFILE_TIMEOUT = 300


def longest_conversation() -> float:
    """The most seconds any one conversation may take, whatever the profile: its budget
    with the longest timeout a profile may have."""
    return conversation_budget(MAX_PROFILE_TIMEOUT)


@dataclass(frozen=True)
class Budget:
    """The time one conversation has: ``seconds`` in all, ending at ``deadline`` (monotonic)."""

    seconds: float
    deadline: float
    #: "test", "connect" or "send": which limit the error message names.
    kind: str

    @classmethod
    def start(cls, seconds: float | None, kind: str) -> Budget | None:
        """A budget from now; None for no limit."""
        if seconds is None:
            return None
        return cls(seconds, time.monotonic() + seconds, kind)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    @property
    def spent(self) -> bool:
        return self.remaining() <= 0

    def wait(self, timeout: float | None) -> float:
        """How long the next wait may last: ``timeout``, cut to what is left.

        Raises :class:`ConversationTimeout` when nothing is left.
        """
        remaining = self.remaining()
        if remaining <= 0:
            raise self.exceeded()
        return remaining if timeout is None else min(timeout, remaining)

    def exceeded(self) -> ConversationTimeout:
        return ConversationTimeout(self.seconds, self.kind)


class Watch:
    """One connection the watchdog may shut down: a duplicate of its socket.

    The duplicate refers to the connection, not to one socket object, so it
    outlives the objects that STARTTLS and implicit TLS replace the socket with
    (wrapping detaches the original), and its descriptor cannot be reused by
    another connection while the watch holds it. :meth:`Watchdog.close` must
    be called when the connection closes, or the duplicate keeps it open.
    """

    __slots__ = ("sock", "armed")

    def __init__(self, sock: socket.socket):
        self.sock: socket.socket | None = socket.fromfd(
            sock.fileno(), sock.family, sock.type, sock.proto
        )
        #: The sequence number of the heap entry that is live, or None when not armed.
        self.armed: int | None = None


class Watchdog:
    """Shuts connections down when their deadline passes; one thread for all of them.

    Arming and disarming cost a heap push and an attribute write under a lock
    (the backend does both for every message); an entry left behind by
    disarming is dropped when it reaches the top of the heap, or when stale
    entries outnumber live ones.
    """

    def __init__(self):
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # After a fork the thread is gone and the lock may be held by it: start afresh.
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, Watch]] = []
        self._sequence = itertools.count()
        self._compact_at = 1024
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, deadline: float | None = None) -> Watch:
        """Start watching ``sock``'s connection, armed to ``deadline`` if given."""
        watch = Watch(sock)
        if deadline is not None:
            self.arm(watch, deadline)
        return watch

    def arm(self, watch: Watch, deadline: float) -> None:
        """Shut ``watch``'s connection down at ``deadline`` unless disarmed first."""
        with self._lock:
            if watch.sock is None:
                return
            number = next(self._sequence)
            watch.armed = number
            heapq.heappush(self._heap, (deadline, number, watch))
            if len(self._heap) > self._compact_at:
                self._heap = [entry for entry in self._heap if entry[2].armed == entry[1]]
                heapq.heapify(self._heap)
                self._compact_at = max(1024, 2 * len(self._heap))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="smtpconfig-watchdog", daemon=True
                )
                self._thread.start()
            elif self._heap[0][1] == number:
                self._wakeup.notify()  # the new deadline comes first

    def disarm(self, watch: Watch) -> None:
        with self._lock:
            watch.armed = None

    def close(self, watch: Watch) -> None:
        """Stop watching and release the duplicate socket."""
        with self._lock:
            watch.armed = None
            sock, watch.sock = watch.sock, None
        if sock is not None:
            sock.close()

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0][2].armed != self._heap[0][1]:
                    heapq.heappop(self._heap)  # disarmed or re-armed since
                if not self._heap:
                    self._wakeup.wait()
                    continue
                deadline, _number, watch = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._wakeup.wait(wait)
                    continue
                heapq.heappop(self._heap)
                watch.armed = None
                sock, watch.sock = watch.sock, None
                if sock is not None:
                    # Under the lock: a watch disarmed before this point is never fired.
                    with contextlib.suppress(OSError):  # the other side closed it already
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()


#: The process's watchdog.
WATCHDOG = Watchdog()

_CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "smtpconfig_budget", default=None
)


@contextlib.contextmanager
def within(budget: Budget | None) -> Iterator[None]:
    """HTTP requests made inside the block end when ``budget`` runs out (see
    :func:`current_budget`)."""
    token = _CURRENT.set(budget)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_budget() -> Budget | None:
    """The budget of the :func:`within` block the caller is in; None outside one."""
    return _CURRENT.get()


@contextlib.contextmanager
def guarded(sock: socket.socket, budget: Budget | None) -> Iterator[None]:
    """Inside the block, ``sock``'s connection is shut down when ``budget`` runs out.

    An ``OSError`` raised in the block once the budget is spent becomes
    :class:`ConversationTimeout`: it is what ended the wait, whatever the
    socket said.
    """
    watch = WATCHDOG.watch(sock, budget.deadline if budget else None)
    try:
        yield
    except OSError as exc:
        if budget is not None and budget.spent and not isinstance(exc, ConversationTimeout):
            raise budget.exceeded() from None
        raise
    finally:
        WATCHDOG.close(watch)
