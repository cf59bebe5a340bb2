"""Logging that never blocks the event loop: records go through a queue to a writer thread."""

from __future__ import annotations

import logging
import logging.handlers
import os
import queue
import sys
from pathlib import Path
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUEUE_LINES = 10_000  # log lines held while the output is stalled; past it they are dropped
STOP_WAIT = 2.0  # seconds the writer may take to write out the queue at exit


class DroppingQueueHandler(logging.handlers.QueueHandler):
    """A QueueHandler that drops a record when the queue is full, and counts it.

    The standard one would call handleError (printing a traceback to stderr, the
    very stream that is stalled); dropping keeps the loop running and memory bounded.
    """

    def __init__(self, q: queue.Queue[logging.LogRecord]) -> None:
        super().__init__(q)
        self.dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            if self.dropped:
                note = logging.makeLogRecord({
                    "name": "play.log", "levelno": logging.WARNING, "levelname": "WARNING",
                    "msg": "%d log line(s) were dropped while the output was stalled",
                    "args": (self.dropped,)})
                self.queue.put_nowait(note)
                self.dropped = 0
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


_listener: logging.handlers.QueueListener | None = None


def start_logging(to_file: Path | None = None, level: int = logging.INFO, *,
                  stream: TextIO | None = None) -> None:
    """Send the root logger's records through a bounded queue to `stream` (default stderr)
    or to `to_file` (created 0600)."""
    global _listener
    stop_logging()
    if to_file is None:
        target: logging.Handler = logging.StreamHandler(stream or sys.stderr)
    else:
        to_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(to_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        target = logging.FileHandler(to_file, encoding="utf-8")
    target.setFormatter(logging.Formatter(FORMAT))
    q: queue.Queue[logging.LogRecord] = queue.Queue(QUEUE_LINES)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(DroppingQueueHandler(q))
    root.setLevel(level)
    _listener = logging.handlers.QueueListener(q, target, respect_handler_level=True)
    _listener.start()


def stop_logging() -> None:
    """Write out what is queued (if the output takes it) and stop the writer thread."""
    global _listener
    if _listener is None:
        return
    listener, _listener = _listener, None
    try:
        listener.queue.put_nowait(listener._sentinel)  # type: ignore[attr-defined]
    except queue.Full:
        pass
    thread = listener._thread  # type: ignore[attr-defined]
    if thread is not None:
        thread.join(STOP_WAIT)  # a stalled output must not hold the exit up for ever
    listener._thread = None  # type: ignore[attr-defined]
