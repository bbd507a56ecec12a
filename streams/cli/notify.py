"""``ordertriage notify``: deliver notifications to people (docs/notify.md)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import click

from streams.notify.config import ConfigError
from streams.settings import get_settings


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="config file (default: ORDERTRIAGE_NOTIFY_CONFIG)",
)
@click.option("--check", is_flag=True, help="validate the config file and exit")
def notify(config_path: Path | None, check: bool) -> None:
    """Deliver orders.notifications to DingTalk, Feishu, WeCom, Slack, webhooks and e-mail."""
    from streams.notify.config import load
    from streams.notify.run import serve

    settings = get_settings()
    path = config_path or settings.notify_config
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        if check:
            config, _ = load(path)
            click.echo(
                f"{path}: ok ({len(config.roles)} roles, {len(config.people)} people,"
                f" {len(config.channels)} channels)"
            )
            return
        asyncio.run(serve(settings, path))
    except ConfigError as exc:
        click.echo(f"ordertriage notify: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    notify()
