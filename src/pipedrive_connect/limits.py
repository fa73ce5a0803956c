"""Client-side rate limiting, shared by every job in the process that uses the same token.

Pipedrive counts requests per token over a rolling 2-second window. The limiter keeps a
log of recent send times and lets a request go only while fewer than the limit were sent
in the last window, so concurrent workers together stay just under the limit instead of
collecting 429s. The limit itself is learnt from the `x-ratelimit-*` headers.
"""

from __future__ import annotations

import email.utils
import hashlib
import math
import threading
import time
from collections import deque
from datetime import datetime, timezone

from .pipedrive import RATE_LIMIT, RATE_REMAINING, RATE_RESET, SEARCH_LIMIT
from .pipedrive import RATE_WINDOW as WINDOW

MAX_PAUSE = 10.0  # the window is 2 s: a longer pause learnt from a header is not credible


def seconds_from_header(value) -> float | None:
    """A wait announced in a header (seconds, or an HTTP date as Retry-After allows), never negative.

    None when it cannot be used (garbage, NaN, infinite), so a broken header falls back to the defaults.
    """
    if value is None or not str(value).strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(str(value))
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


class _Window:
    def __init__(self, limit: int):
        self.limit = limit
        self.sent: deque[float] = deque()
        self.blocked_until = 0.0


class RateLimiter:
    _shared: dict[str, RateLimiter] = {}
    _shared_lock = threading.Lock()

    def __init__(
        self,
        limit: int = 20,
        margin: float = 0.05,
        clock=time.monotonic,
        sleep=time.sleep,
        max_pause: float = MAX_PAUSE,
    ):
        self._general = _Window(limit)
        self._search = _Window(SEARCH_LIMIT)
        self._lock = threading.Lock()
        self.margin, self._clock, self._sleep = margin, clock, sleep
        self.max_pause = max_pause  # one bad header must not stall every worker for long
        self.waited = 0.0

    @classmethod
    def for_token(cls, secret: str, limit: int = 20) -> RateLimiter:
        """One limiter per token per process (keyed by a hash, never by the token itself)."""
        key = hashlib.sha256(secret.encode()).hexdigest()
        with cls._shared_lock:
            if key not in cls._shared:
                cls._shared[key] = cls(limit)
            return cls._shared[key]

    def acquire(self, search: bool = False) -> None:
        windows = [self._general, self._search] if search else [self._general]
        while True:
            with self._lock:
                now = self._clock()
                wait = 0.0
                for w in windows:
                    self._prune(w, now)
                    if w.blocked_until > now:
                        wait = max(wait, w.blocked_until - now)
                    if len(w.sent) >= w.limit:
                        wait = max(wait, w.sent[0] + WINDOW + self.margin - now)
                if wait <= 0:
                    for w in windows:
                        w.sent.append(now)
                    return
            self.waited += wait
            self._sleep(wait)

    def observe(self, headers, search: bool = False) -> None:
        """Learn the limit, and pause everyone when the server says the window is used up."""
        window = self._search if search else self._general
        try:
            limit = int(headers.get(RATE_LIMIT, 0))
        except (TypeError, ValueError):
            limit = 0
        used_up = str(headers.get(RATE_REMAINING, "")).strip() in ("0", "-1")
        reset = seconds_from_header(headers.get(RATE_RESET)) if used_up else None
        with self._lock:
            if limit > 0:
                window.limit = limit
            if reset:
                now = self._clock()
                self._prune(window, now)
                # Our own log already keeps us to the limit; a used-up window we did not fill means
                # another client shares the token, so the server's (whole-second) reset is the guide.
                if len(window.sent) < window.limit:
                    window.blocked_until = max(window.blocked_until, now + min(reset, self.max_pause))

    def _prune(self, window: _Window, now: float) -> None:
        while window.sent and window.sent[0] <= now - WINDOW - self.margin:
            window.sent.popleft()
