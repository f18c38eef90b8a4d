"""How many batches a campaign run hands a function at once (campaigns.activity.Window)."""

from __future__ import annotations

import pytest

from tidings.campaigns import activity
from tidings.campaigns.activity import Window


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(activity.time, "monotonic", lambda: now[0])
    return now


def run(window: Window, clock, seconds: float, batches_per_tenth) -> list[int]:
    """Deliver for ``seconds``: each tenth of a second, ``batches_per_tenth(size)`` batches of
    50 come back, evenly spread. Returns the sizes seen."""
    sizes = []
    for _ in range(int(seconds * 10)):
        count = batches_per_tenth(window.size)
        for _ in range(count):
            clock[0] += 0.1 / count
            window.delivered(50)
        sizes.append(window.size)
    return sizes


@pytest.mark.parametrize("limit", [8, 16, 64])
def test_a_slow_function_gets_more_environments_up_to_the_limit(clock, limit):
    # Each batch waits 0.1 s on something outside (I/O): throughput grows with the window.
    window = Window(limit, start=2)
    sizes = run(window, clock, 60, lambda size: size)
    assert sizes[0] == 2 and sizes[-1] == limit
    assert sizes == sorted(sizes)


def test_a_fast_function_keeps_the_few_environments_it_needs(clock):
    # The machine is the limit: 30 batches a tenth of a second, whatever the window.
    window = Window(8, start=2)
    sizes = run(window, clock, 10, lambda size: 30)
    assert max(sizes) == 3  # one slot was tried, and given back
    assert sizes[-1] == 2 and window.settled


def test_gains_stop_where_the_function_saturates(clock):
    # Throughput grows with the window up to four batches at once, then stays.
    window = Window(16, start=2)
    sizes = run(window, clock, 20, lambda size: min(size, 4))
    assert sizes[-1] == 4


def test_a_webhook_window_starts_at_its_limit(clock):
    window = Window(16, start=16)
    assert window.size == 16 and window.settled


def test_environments_starting_up_do_not_count_as_a_gain(clock):
    # The first batches wait for the environments to start; after that the machine is the limit.
    window = Window(8, start=2)
    started = clock[0]
    sizes = run(window, clock, 10, lambda size: 3 if clock[0] - started < 0.5 else 30)
    assert max(sizes) <= 3 and sizes[-1] == 2
