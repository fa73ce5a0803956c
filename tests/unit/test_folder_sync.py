"""The group commit of folder fsyncs: shared between threads, yet each caller is covered by an
fsync that began after it asked (issue 17, item 3)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pipedrive_connect.jobs import FolderSync

FOLDER = Path("/nowhere/success")


class Recorder:
    """A fake fsync that logs when each one begins and ends; the first one waits for `release`."""

    def __init__(self, fail_first: bool = False):
        self.events: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_first = fail_first
        self.calls = 0

    def __call__(self, folder: Path) -> None:
        with self.lock:
            self.calls += 1
            n = self.calls
            self.events.append(("begin", n))
        if n == 1:
            self.entered.set()
            assert self.release.wait(10)
            if self.fail_first:
                with self.lock:
                    self.events.append(("failed", n))
                raise OSError("injected fsync failure")
        with self.lock:
            self.events.append(("end", n))


def ask(sync: FolderSync, recorder: Recorder, name: str, errors: list) -> threading.Thread:
    def go() -> None:
        try:
            sync(FOLDER)
        except OSError as exc:
            errors.append((name, exc))
        with recorder.lock:
            recorder.events.append(("returned", name))

    thread = threading.Thread(target=go)
    thread.start()
    return thread


def settle(sync: FolderSync, waiting: int) -> None:
    """Until `waiting` threads are inside the sync besides the leader (bounded)."""
    for _ in range(1000):
        with sync._cond:
            state = sync._folders.get(FOLDER)
            if state is not None and state[3] == waiting + 1:
                return
        threading.Event().wait(0.005)
    pytest.fail("threads did not arrive")


def test_callers_arriving_during_an_fsync_share_the_next_one_and_wait_for_it():
    recorder = Recorder()
    sync = FolderSync(recorder)
    errors: list = []
    first = ask(sync, recorder, "first", errors)
    assert recorder.entered.wait(10)
    late = [ask(sync, recorder, f"late-{i}", errors) for i in range(3)]
    settle(sync, 3)
    recorder.release.set()
    for thread in [first, *late]:
        thread.join(10)
    assert not errors
    assert recorder.calls == 2  # one for the first caller, one shared by the three late ones
    # a late caller's renames happened after fsync 1 began, so only the end of fsync 2 covers them
    second_end = recorder.events.index(("end", 2))
    for i in range(3):
        assert recorder.events.index(("returned", f"late-{i}")) > second_end
    assert not sync._folders  # nothing kept once everyone is served


def test_a_failed_fsync_fails_its_caller_and_the_others_get_a_fresh_one():
    recorder = Recorder(fail_first=True)
    sync = FolderSync(recorder)
    errors: list = []
    first = ask(sync, recorder, "first", errors)
    assert recorder.entered.wait(10)
    late = ask(sync, recorder, "late", errors)
    settle(sync, 1)
    recorder.release.set()
    first.join(10)
    late.join(10)
    assert [name for name, _ in errors] == ["first"]
    assert recorder.events.index(("returned", "late")) > recorder.events.index(("end", 2))


def test_a_lone_caller_gets_its_own_fsync_each_time():
    recorder = Recorder()
    recorder.release.set()
    sync = FolderSync(recorder)
    for _ in range(3):
        sync(FOLDER)
    assert recorder.calls == 3
