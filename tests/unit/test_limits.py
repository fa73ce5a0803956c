"""The client-side limiter keeps every 2-second window under the limit, on a fake clock."""

from __future__ import annotations

from pipedrive_connect.limits import WINDOW, RateLimiter


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def sends(limiter, clock, count, search=False):
    times = []
    for _ in range(count):
        limiter.acquire(search=search)
        times.append(clock.now)
    return times


def max_in_any_window(times):
    return max(sum(1 for t in times if start <= t < start + WINDOW) for start in times)


def test_never_more_than_the_limit_in_any_window():
    clock = FakeClock()
    limiter = RateLimiter(limit=10, clock=clock, sleep=clock.sleep)
    times = sends(limiter, clock, 95)
    assert max_in_any_window(times) == 10
    assert times[-1] - times[0] < 9 * (WINDOW + limiter.margin) + 0.01  # and no slower than needed


def test_learns_the_limit_from_headers():
    clock = FakeClock()
    limiter = RateLimiter(limit=2, clock=clock, sleep=clock.sleep)
    limiter.observe({"x-ratelimit-limit": "40", "x-ratelimit-remaining": "39", "x-ratelimit-reset": "2"})
    assert max_in_any_window(sends(limiter, clock, 80)) == 40


def test_search_calls_have_their_own_lower_limit():
    clock = FakeClock()
    limiter = RateLimiter(limit=100, clock=clock, sleep=clock.sleep)
    times = sends(limiter, clock, 30, search=True)
    assert max_in_any_window(times) == 10


def test_a_window_used_up_by_someone_else_pauses_everyone():
    clock = FakeClock()
    limiter = RateLimiter(limit=40, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.observe({"x-ratelimit-limit": "40", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"})
    before = clock.now
    limiter.acquire()
    assert clock.now - before == 2


def test_one_limiter_per_token_and_never_keyed_by_the_token():
    a = RateLimiter.for_token("token-one-123")
    assert RateLimiter.for_token("token-one-123") is a and RateLimiter.for_token("token-two-456") is not a
    assert "token-one-123" not in repr(RateLimiter._shared)


def test_an_absurd_reset_pauses_everyone_at_most_the_cap():
    for reset in ("1e9", "inf", "86400", "nan", "-5", "soon"):
        clock = FakeClock()
        limiter = RateLimiter(limit=40, clock=clock, sleep=clock.sleep)  # max_pause: 10 s by default
        limiter.acquire()
        limiter.observe({"x-ratelimit-limit": "40", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})
        before = clock.now
        limiter.acquire()
        assert clock.now - before <= 10.0, reset
