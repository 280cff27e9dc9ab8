"""An HTTP worker's log lines: INFO through one writer thread, WARNING at once."""

from __future__ import annotations

import io
import logging
import threading

from ivr.roles.http import QueuedLogging


def _logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.handlers = [handler]
    return logger, out


def test_info_lines_are_written_in_order_and_all_of_them_on_stop() -> None:
    logger, out = _logger("test.queued.order")
    queued = QueuedLogging(logger)
    queued.start()
    threads = [threading.Thread(target=lambda n=n: [logger.info("t%d line %d", n, i)
                                                     for i in range(200)]) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queued.stop()
    seen = out.getvalue().splitlines()
    assert len(seen) == 800
    for n in range(4):
        mine = [line for line in seen if line.startswith(f"INFO t{n} ")]
        assert mine == [f"INFO t{n} line {i}" for i in range(200)]
    assert logger.handlers == queued.targets      # put back as they were


def test_arguments_are_taken_when_logged_and_warnings_written_at_once() -> None:
    logger, out = _logger("test.queued.now")
    queued = QueuedLogging(logger)
    queued.start()
    try:
        items = ["a"]
        logger.info("items %s", items)
        items.append("b")                 # after the call: not in the line
        logger.warning("disk full")
        assert "WARNING disk full" in out.getvalue()      # before stop(): synchronous
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
        assert "ValueError: boom" in out.getvalue()
    finally:
        queued.stop()
    assert "INFO items ['a']" in out.getvalue().splitlines()
