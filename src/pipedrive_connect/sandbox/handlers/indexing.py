"""Two ways the real API makes creating exactly once hard, simulated so tests can cover them.

``SearchIndex``: Pipedrive's search trails its writes; with a lag, a record created a moment ago
is found by the search endpoints only once the lag has passed (reads by id and lists see it at
once, as on the real API). ``AmbiguousCreates``: a create is applied, and then the client is told
it failed (a 502, or the connection is dropped), so it cannot know the record exists.
"""

from __future__ import annotations

import threading
import time

AMBIGUOUS_ANSWERS = ("502", "drop")


class SearchIndex:
    def __init__(self, lag: float = 0.0):
        if lag < 0:
            raise ValueError("the search lag cannot be negative")
        self.lag = lag
        self._lock = threading.Lock()
        self._findable_at: dict[tuple[str, object], float] = {}

    def created(self, table: str, record_id: object) -> None:
        if self.lag:
            with self._lock:
                self._findable_at[(table, record_id)] = time.monotonic() + self.lag

    def findable(self, table: str, record_id: object) -> bool:
        if not self.lag:
            return True
        with self._lock:
            at = self._findable_at.get((table, record_id))
        return at is None or at <= time.monotonic()


class AmbiguousCreates:
    """The next `count` creates are applied, then answered with `answer` (502, or a dropped connection)."""

    def __init__(self, count: int = 0, answer: str = "502"):
        if count < 0 or answer not in AMBIGUOUS_ANSWERS:
            raise ValueError(f"ambiguous creates: a count of 0 or more, answered with one of {AMBIGUOUS_ANSWERS}")
        self._lock = threading.Lock()
        self.left, self.answer, self.given = count, answer, 0

    def arm(self, count: int, answer: str = "502") -> None:
        with self._lock:
            self.left, self.answer = count, answer

    def take(self) -> str | None:
        """The answer to give instead of the real one for this create, if any remain."""
        with self._lock:
            if self.left <= 0:
                return None
            self.left -= 1
            self.given += 1
            return self.answer
