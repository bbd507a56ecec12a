"""``python -m streams.cli``: the ``ordertriage`` command (workers are started this way)."""

from streams.cli.main import main

main()
