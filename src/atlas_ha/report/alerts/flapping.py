"""Flap detection as Nagios does it (Nagios Core docs, "Detection and Handling of State
Flapping"): the last 21 results of a subject hold up to 20 transitions; each transition that
is a state change counts with a weight rising linearly from 0.8 (the oldest) to 1.2 (the
newest); the percent state change is the weighted count over the 20 possible transitions.
A subject starts flapping when that percentage exceeds the high threshold (default 20 %) and
stops when it falls below the low threshold (default 5 %). With fewer than 21 results the
missing ones count as no change (Nagios fills its history with the first state).
"""

from __future__ import annotations

from collections.abc import Sequence

HISTORY = 21
TRANSITIONS = HISTORY - 1
OLDEST_WEIGHT = 0.8
NEWEST_WEIGHT = 1.2


def weight(index: int) -> float:
    """The weight of transition `index` (0 = the oldest of the 20, 19 = the newest)."""
    return OLDEST_WEIGHT + (NEWEST_WEIGHT - OLDEST_WEIGHT) * index / (TRANSITIONS - 1)


def percent_state_change(states: Sequence[str]) -> float:
    """The weighted percent state change of the last HISTORY `states` (oldest first)."""
    recent = list(states)[-HISTORY:]
    offset = TRANSITIONS - (len(recent) - 1)  # the newest transition always weighs 1.2
    changed = 0.0
    for i in range(1, len(recent)):
        if recent[i] != recent[i - 1]:
            changed += weight(offset + i - 1)
    return 100.0 * changed / TRANSITIONS


def flapping(was: bool, percent: float, low: float, high: float) -> bool:
    """Whether a subject flaps now: it starts above `high`, stops below `low`."""
    if was:
        return percent >= low
    return percent > high
