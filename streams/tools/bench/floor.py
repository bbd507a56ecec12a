"""The Faust floor: the ceiling's byte copy written as a Faust agent, configured as the worker is.

What Faust's own per-record path costs before any of ordertriage's work: one agent reads both
input topics through Faust's consumer, conductor and stream, and sends the same number of output
records per input as ordertriage writes (the first to ``--out``, the rest to ``--extra``, as the
ceiling spreads them) through Faust's send path, as the worker's outputs go; Faust commits the
offsets every 2.8 s after its producer flush, as the worker's. The app is the worker's
(``faust_app``: acks, batch size, poll size and session settings from the same environment), on
uvloop, with no tables, no parsing and none of the runtime adaptations but one: the start
without Faust's terminal spinner, which would make every ``log.debug`` build a record.
ordertriage can be no faster than this floor unless it leaves Faust's agents.

Run as its own process (``python -m streams.tools.bench.floor``), started like the worker.
"""

from __future__ import annotations

import sys

import click


@click.command()
@click.option("--input", "inputs", multiple=True, required=True)
@click.option("--out", required=True)
@click.option("--extra", required=True)
@click.option("--fanout", type=float, default=1.0, show_default=True)
def main(inputs: tuple[str, ...], out: str, extra: str, fanout: float) -> None:
    import mode.loop

    mode.loop.use("uvloop")  # before Faust is imported, as the worker does
    from streams.app import faust_app
    from streams.runtime.faust_tuning import no_startup_spinner
    from streams.settings import get_settings

    no_startup_spinner()

    app = faust_app(get_settings())
    raw = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    source = app.topic(*inputs, **raw)  # type: ignore[arg-type]
    first, rest = app.topic(out, **raw), app.topic(extra, **raw)  # type: ignore[arg-type]
    extra_per_input = max(fanout, 1.0) - 1

    @app.agent(source)
    async def copy(stream):  # type: ignore[no-untyped-def]
        owed = 0.0  # copies owed beyond the first, carried between records
        async for event in stream.events():
            await first.send(key=event.key, value=event.value)
            owed += extra_per_input
            while owed >= 1:
                await rest.send(key=event.key, value=event.value)
                owed -= 1

    sys.argv = ["floor", "--loop", "uvloop", "worker", "--loglevel", "warn"]
    app.main()


if __name__ == "__main__":
    main()
