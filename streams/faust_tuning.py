"""Faust behaviour that costs the worker CPU and that Faust has no setting for (``make bench``)."""

from __future__ import annotations

import logging

from faust import App


def keep_root_log_level(app: App, level: str) -> None:
    """Undo the DEBUG root level Faust's worker leaves behind at log levels >= warning.

    For its start-up spinner the worker sets the root logger to DEBUG (the console handler
    still filters), and never resets it: every ``log.debug`` in Faust and aiokafka then builds
    a record nobody prints (profiled: ~5% of the worker's CPU under load).
    """
    wanted = logging.getLevelName(level.upper())

    @app.task
    async def reset_root_log_level() -> None:
        root = logging.getLogger()
        if root.level < wanted:
            root.setLevel(wanted)
