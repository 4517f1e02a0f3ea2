import threading

import pytest

from engine.errors import ClockMovedBackwards, IdsUnavailable, InvalidInput
from engine.ids import (
    EPOCH_MS,
    MAX_SEQUENCE,
    IdGenerator,
    id_ms,
    id_worker,
    make_id,
    parse_id,
)

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self, ms: int) -> None:
        self.ms = ms
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.ms


def test_layout_is_41_bits_ms_10_worker_12_sequence() -> None:
    snowflake = make_id(EPOCH_MS + 5, worker=3, sequence=7)
    assert snowflake == (5 << 22) | (3 << 12) | 7
    assert id_ms(snowflake) == EPOCH_MS + 5
    assert id_worker(snowflake) == 3


def test_ids_increase_within_one_millisecond_and_roll_to_the_next() -> None:
    clock = FakeClock(EPOCH_MS + 1000)
    gen = IdGenerator(worker=1, clock_ms=clock)
    first = [gen.next_id() for _ in range(MAX_SEQUENCE + 1)]
    assert first == sorted(first) and len(set(first)) == len(first)
    assert all(id_ms(i) == EPOCH_MS + 1000 for i in first)

    def tick_when_asked() -> int:
        clock.ms += 1
        return clock.ms

    gen._clock_ms = tick_when_asked  # the sequence is spent: the generator waits for the next ms
    nxt = gen.next_id()
    assert nxt > first[-1] and id_ms(nxt) > EPOCH_MS + 1000


def test_refuses_ids_when_the_clock_goes_far_back() -> None:
    clock = FakeClock(EPOCH_MS + 10_000)
    gen = IdGenerator(worker=0, clock_ms=clock)
    before = gen.next_id()
    clock.ms -= 1000
    with pytest.raises(ClockMovedBackwards):
        gen.next_id()
    clock.ms += 1000
    assert gen.next_id() > before


def test_small_backward_step_is_waited_out_without_reusing_an_id() -> None:
    clock = FakeClock(EPOCH_MS + 10_000)
    gen = IdGenerator(worker=0, clock_ms=clock)
    before = gen.next_id()
    clock.ms -= 2
    readings = iter([EPOCH_MS + 9_998, EPOCH_MS + 9_999, EPOCH_MS + 10_000, EPOCH_MS + 10_001])
    gen._clock_ms = lambda: next(readings)
    assert gen.next_id() > before


def test_unique_across_threads() -> None:
    gen = IdGenerator(worker=9)
    out: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [gen.next_id() for _ in range(2000)]
        with lock:
            out.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(out)) == 8000


@pytest.mark.parametrize("worker", [-1, 1024])
def test_worker_out_of_range(worker: int) -> None:
    with pytest.raises(ValueError):
        IdGenerator(worker)


@pytest.mark.parametrize(
    "text", ["", "abc", "-1", "1.5", "٣", "99999999999999999999", "9223372036854775808"]
)
def test_parse_id_refuses_non_ids(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_id(text)
    assert err.value.code == "invalid_id"


def test_parse_id_accepts_decimal() -> None:
    assert parse_id("9223372036854775807") == 2**63 - 1


def test_a_leased_generator_refuses_past_its_mark_until_the_mark_is_raised() -> None:
    clock = FakeClock(EPOCH_MS + 10_000)
    gen = IdGenerator(worker=4, clock_ms=clock, mark_ms=EPOCH_MS + 10_001)
    first = gen.next_id()
    clock.ms += 1
    at_mark = gen.next_id()
    clock.ms += 1
    with pytest.raises(IdsUnavailable) as refused:
        gen.next_id()
    assert (refused.value.status, refused.value.code) == (503, "ids_unavailable")
    assert refused.value.retriable and refused.value.retry_after_s >= 1
    gen.extend(EPOCH_MS + 20_000)
    assert first < at_mark < gen.next_id()


def test_the_mark_never_goes_down() -> None:
    clock = FakeClock(EPOCH_MS + 10_000)
    gen = IdGenerator(worker=4, clock_ms=clock, mark_ms=EPOCH_MS + 10_000)
    gen.extend(EPOCH_MS + 9_000)
    assert gen.mark_ms == EPOCH_MS + 10_000
    assert id_ms(gen.next_id()) == EPOCH_MS + 10_000


def test_a_sequence_spent_at_the_mark_refuses_rather_than_passing_it() -> None:
    clock = FakeClock(EPOCH_MS + 10_000)
    gen = IdGenerator(worker=4, clock_ms=clock, mark_ms=EPOCH_MS + 10_000)
    ids = [gen.next_id() for _ in range(MAX_SEQUENCE + 1)]
    readings = iter([EPOCH_MS + 10_000, EPOCH_MS + 10_001])
    gen._clock_ms = lambda: next(readings)  # the sequence is spent: the next ms is past the mark
    with pytest.raises(IdsUnavailable):
        gen.next_id()
    assert all(id_ms(i) == EPOCH_MS + 10_000 for i in ids)


def test_ids_start_strictly_above_the_floor() -> None:
    floor = EPOCH_MS + 10_000
    readings = iter([floor, floor, floor + 1])
    gen = IdGenerator(worker=2, clock_ms=lambda: next(readings), floor_ms=floor)
    assert id_ms(gen.next_id()) == floor + 1  # at the floor itself it waits for the next ms


def test_a_clock_slightly_behind_the_floor_waits_for_it() -> None:
    floor = EPOCH_MS + 10_000
    readings = iter([floor - 3, floor - 2, floor, floor + 1])
    gen = IdGenerator(worker=2, clock_ms=lambda: next(readings), floor_ms=floor)
    assert id_ms(gen.next_id()) == floor + 1


def test_a_clock_far_behind_the_floor_refuses_until_it_passes() -> None:
    floor = EPOCH_MS + 100_000
    clock = FakeClock(floor - 60_000)  # stepped back a minute across a restart
    gen = IdGenerator(worker=2, clock_ms=clock, floor_ms=floor)
    with pytest.raises(ClockMovedBackwards) as refused:
        gen.next_id()
    assert refused.value.status == 503 and refused.value.retry_after_s == 60
    clock.ms = floor + 1
    assert id_ms(gen.next_id()) == floor + 1


def test_adopting_another_worker_id_keeps_ids_increasing_and_above_its_floor() -> None:
    clock = FakeClock(EPOCH_MS + 10_000)
    gen = IdGenerator(worker=1, clock_ms=clock, mark_ms=EPOCH_MS + 10_000)
    before = gen.next_id()
    clock.ms += 5
    gen.adopt(7, floor_ms=EPOCH_MS + 10_004, mark_ms=EPOCH_MS + 20_000)
    after = gen.next_id()
    assert after > before
    assert (id_worker(after), id_ms(after)) == (7, EPOCH_MS + 10_005)


@pytest.mark.parametrize("count", [0, 1, 7, MAX_SEQUENCE, MAX_SEQUENCE + 1, 3 * MAX_SEQUENCE])
def test_a_run_of_ids_is_what_one_by_one_would_give(count: int) -> None:
    def ticking() -> tuple[IdGenerator, FakeClock]:
        clock = FakeClock(EPOCH_MS + 10_000)
        gen = IdGenerator(worker=5, clock_ms=clock)
        gen.next_id()
        gen.next_id()  # a run starts mid-millisecond

        def tick_when_spent() -> int:
            if gen._sequence == MAX_SEQUENCE:  # only a spent sequence moves the clock on
                clock.ms += 1
            return clock.ms

        gen._clock_ms = tick_when_spent
        return gen, clock

    one, _ = ticking()
    run, clock = ticking()
    expected = [one.next_id() for _ in range(count)]
    assert run.next_ids(count) == expected
    assert run.next_id() == one.next_id()  # and the generator goes on from the same place
    if count > MAX_SEQUENCE:
        assert clock.calls < count  # one reading per millisecond, not per id


def test_a_run_of_ids_refuses_to_pass_the_mark() -> None:
    clock = FakeClock(EPOCH_MS + 10_000)
    gen = IdGenerator(worker=4, clock_ms=clock, mark_ms=EPOCH_MS + 10_000)
    ids = gen.next_ids(MAX_SEQUENCE + 1)
    assert all(id_ms(i) == EPOCH_MS + 10_000 for i in ids)
    readings = iter([EPOCH_MS + 10_000, EPOCH_MS + 10_001])
    gen._clock_ms = lambda: next(readings)
    with pytest.raises(IdsUnavailable):
        gen.next_ids(2)
