from __future__ import annotations

from streams.classify.parking import CreatedProgress

GRACE = 60.0


def test_waits_while_a_backlog_of_created_orders_is_read() -> None:
    p = CreatedProgress()
    # Parked at t=100 from a record stamped 100; the created stream keeps delivering records
    # stamped just before it (a backlog after a restart) until long after the wall-clock grace.
    for now in range(100, 400, 5):
        p.saw(0, record_timestamp=99.0, now=float(now))
        assert not p.gave_up(
            0, record_timestamp=100.0, parked_at=100.0, now=float(now), grace=GRACE
        )


def test_gives_up_once_created_stream_passed_it_by_grace() -> None:
    p = CreatedProgress()
    p.saw(0, record_timestamp=159.9, now=101.0)
    assert not p.gave_up(0, 100.0, parked_at=100.0, now=101.0, grace=GRACE)
    p.saw(0, record_timestamp=160.0, now=102.0)
    assert p.gave_up(0, 100.0, parked_at=100.0, now=102.0, grace=GRACE)
    assert not p.gave_up(1, 100.0, parked_at=100.0, now=102.0, grace=GRACE)  # per partition


def test_gives_up_on_an_idle_stream_after_grace() -> None:
    p = CreatedProgress()
    p.saw(0, record_timestamp=50.0, now=50.0)
    assert not p.gave_up(0, 100.0, parked_at=100.0, now=159.0, grace=GRACE)  # waited 59 s
    assert p.gave_up(0, 100.0, parked_at=100.0, now=160.0, grace=GRACE)
    # A partition just (re)assigned counts as busy for one grace period.
    p.assigned(0, now=1000.0)
    assert not p.gave_up(0, 100.0, parked_at=100.0, now=1059.0, grace=GRACE)
    assert p.gave_up(0, 100.0, parked_at=100.0, now=1060.0, grace=GRACE)


def test_scans_only_when_something_could_give_up() -> None:
    p = CreatedProgress()
    assert p.worth_scanning(0, now=10.0, grace=GRACE)  # nothing known yet: look once
    p.scanned(0, oldest_left=None)
    assert not p.worth_scanning(0, now=10.0, grace=GRACE)  # nothing parked
    p.saw(0, record_timestamp=100.0, now=100.0)
    p.parked(0, record_timestamp=100.0)
    p.saw(0, record_timestamp=150.0, now=120.0)
    assert not p.worth_scanning(0, now=120.0, grace=GRACE)  # busy, not past it by grace
    p.saw(0, record_timestamp=160.0, now=121.0)
    assert p.worth_scanning(0, now=121.0, grace=GRACE)  # the stream moved past it
    p.scanned(0, oldest_left=130.0)
    assert not p.worth_scanning(0, now=122.0, grace=GRACE)
    assert p.worth_scanning(0, now=181.0, grace=GRACE)  # idle for a grace period
    p.assigned(0, now=200.0)
    assert p.worth_scanning(0, now=200.0, grace=GRACE)  # re-assigned: unknown again
