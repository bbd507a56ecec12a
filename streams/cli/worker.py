"""``ordertriage worker``: build the worker, register its agents and views, run it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from streams.runtime import local_state
from streams.settings import Settings, get_settings


@click.command()
def worker() -> None:
    """Run a worker (Faust) with the settings from the environment."""
    import mode.loop

    # Faust reads `--loop` from argv only when faust is first imported, which building the app
    # does: without this the worker ran on the pure-Python loop (profiled: ~12% of its CPU).
    mode.loop.use("uvloop")
    from streams import agents, web
    from streams.apiauth import TokenError
    from streams.app import build
    from streams.kafka.admin import ensure_topics
    from streams.runtime import faust_tuning

    settings = get_settings()
    w = build(settings)
    agents.register(w)
    try:
        web.register(w)
    except TokenError as unusable:  # before anything starts: the reason, not a traceback
        raise click.ClickException(str(unusable)) from None
    app = w.app
    subscribed = {name for agent in app.agents.values() for name in agent.channel.topics}
    _preflight(settings, subscribed, {t.get_topic_name() for t in w.topics.outputs})
    asyncio.run(
        ensure_topics(
            settings.bootstrap,
            subscribed,
            partitions=settings.topic_partitions,
            replication=settings.topic_replication_factor,
        )
    )
    level = {"warning": "warn"}.get(settings.log_level, settings.log_level)  # faust's names
    sys.argv = ["ordertriage", "--loop", "uvloop", "worker", "--loglevel", level]
    appdir, tabledir = Path(app.conf.appdir), Path(app.conf.tabledir)
    local_state.discard_after_crash(appdir, tabledir, settings.store)
    try:
        app.main()
    except SystemExit as exit_:
        # Faust stopped and committed, and every table write kept on disk is in a changelog.
        if exit_.code in (0, None) and not faust_tuning.pending_writes(app):
            local_state.mark_clean(appdir)
        raise


def _preflight(settings: Settings, reads: set[str], writes: set[str]) -> None:
    """Exit with the preflight's message and code when the worker cannot log in or lacks ACLs."""
    from streams.kafka import preflight
    from streams.topics import FEEDBACK_MODELS, RULES

    published = {settings.topic(RULES), settings.topic(FEEDBACK_MODELS)}
    try:
        asyncio.run(preflight.check(settings, reads | published, writes))
    except preflight.PreflightError as e:
        click.echo(f"ordertriage worker: preflight failed: {e}", err=True)
        sys.exit(e.code)
