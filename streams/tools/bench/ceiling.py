"""The ceiling: what Python on Kafka can do at all, a consume -> produce loop that copies bytes.

No parsing and no state, but the same delivery shape as ordertriage: at-least-once (offsets are
committed only after the batch's copies are acknowledged) and the same number of output records
per input. The first copy of each input goes to ``--out`` (the "classified" topic, where
throughput and latency are read); the rest go to ``--extra``, spread so that ``--fanout``
(ordertriage's measured produced/input ratio, fractional) is met exactly on average.

Run as its own process (``python -m streams.tools.bench.ceiling``): its CPU and memory are its own.
"""

from __future__ import annotations

import asyncio

import click
import uvloop

from streams.kafka import clients


async def copy_loop(
    bootstrap: str, inputs: list[str], group: str, out: str, extra: str, fanout: float
) -> None:
    consumer = clients.consumer(
        bootstrap,
        *inputs,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,
    )
    producer = clients.producer(bootstrap, acks="all", linger_ms=2)
    await consumer.start()
    await producer.start()
    owed = 0.0  # copies owed beyond the first, carried between records
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=100, max_records=2000)
            if not batch:
                continue
            sent = []
            for records in batch.values():
                for r in records:
                    sent.append(await producer.send(out, value=r.value, key=r.key))
                    owed += fanout - 1
                    while owed >= 1:
                        sent.append(await producer.send(extra, value=r.value, key=r.key))
                        owed -= 1
            await asyncio.gather(*sent)
            await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


@click.command()
@click.option("--bootstrap", required=True)
@click.option("--input", "inputs", multiple=True, required=True)
@click.option("--group", required=True)
@click.option("--out", required=True)
@click.option("--extra", required=True)
@click.option("--fanout", type=float, default=1.0, show_default=True)
def main(
    bootstrap: str, inputs: tuple[str, ...], group: str, out: str, extra: str, fanout: float
) -> None:
    uvloop.run(copy_loop(bootstrap, list(inputs), group, out, extra, max(fanout, 1.0)))


if __name__ == "__main__":
    main()
