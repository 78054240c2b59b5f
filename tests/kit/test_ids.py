"""Identifiers: prefixed, time-ordered, never repeated (across pool refills, threads and a fork)."""

from __future__ import annotations

import os
import re
import threading
import time

from gateway.kit.ids import new_id, random_bytes, random_hex

ID = re.compile(r"inv_[0-9a-hjkmnp-tv-z]{26}")


def test_ids_have_the_documented_shape_and_sort_by_time() -> None:
    first = new_id("inv")
    time.sleep(0.002)
    second = new_id("inv")
    assert ID.fullmatch(first)
    assert ID.fullmatch(second)
    assert first < second


def test_no_repeats_across_many_pool_refills_and_threads() -> None:
    made: list[list[str]] = [[] for _ in range(4)]

    def make(into: list[str]) -> None:
        into.extend(new_id("inv") for _ in range(5_000))

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for into in made for i in into]
    assert len(set(every)) == len(every) == 20_000  # 200 KB of randomness: ~50 refills
    assert len({i[-16:] for i in every}) == len(every)  # the random part alone is unique


def test_random_bytes_are_handed_out_once() -> None:
    chunks = [random_bytes(24) for _ in range(1_000)]  # crosses several 4 KiB draws
    assert len(set(chunks)) == len(chunks)
    assert len(random_bytes(10_000)) == 10_000  # larger than a draw
    assert re.fullmatch(r"[0-9a-f]{16}", random_hex(8))


def test_a_forked_child_does_not_repeat_its_parents_randomness() -> None:
    random_bytes(1)  # the pool holds a partly used draw the child would inherit
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next bytes and leave at once
        try:
            os.write(write, random_bytes(32))
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 64)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32
    assert child != random_bytes(32)
