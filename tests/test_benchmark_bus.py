"""The in-process measure of the bus path (benchmarks/busmicro.py) runs the real code: every
event published by one hub's ClusterLink reaches every receiver on the other's."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import busmicro  # noqa: E402


def test_the_bus_measure_carries_every_event_to_every_receiver(tmp_path):
    figures = busmicro.once(receivers=7, events=40, work=tmp_path)  # asserts the count
    assert figures["publish_us_per_event"] > 0 and figures["receive_us_per_event"] > 0
    assert 100 < figures["bytes_per_event"] < 1000  # one message per event, not per receiver
