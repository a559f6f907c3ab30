"""A library's message repeated many times a second shows once per window, with a count."""

import logging

from shared.logging import RepeatDamper


def _record(name: str, msg: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, (), None)


def test_a_storm_of_one_message_shows_once_per_window_then_with_its_count(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("shared.logging.time.monotonic", lambda: now[0])
    damper = RepeatDamper(("aiokafka",), window_s=30)
    storm = [
        damper.filter(_record("aiokafka.consumer", "coordinator not available")) for _ in range(50)
    ]
    assert storm.count(True) == 1
    now[0] += 31
    later = _record("aiokafka.consumer", "coordinator not available")
    assert damper.filter(later)
    assert later.getMessage().endswith("(49 more like this in the last 30 s)")


def test_other_messages_and_our_own_loggers_pass_untouched():
    damper = RepeatDamper(("aiokafka",), window_s=30)
    assert damper.filter(_record("aiokafka.conn", "one"))
    assert damper.filter(_record("aiokafka.conn", "two"))
    ours = [damper.filter(_record("linli.dispatch", "same")) for _ in range(5)]
    assert all(ours)
