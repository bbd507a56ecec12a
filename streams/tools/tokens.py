"""Write a stack's API and /metrics tokens into a directory once (docker-compose.yml's init step).

Each file is created like the worker's own generated token (atomic, never replaced), then
handed to the user that reads it: the API token to the worker alone (0600), the metrics token
to the worker with Prometheus's group allowed to read it (0640). Existing files are kept, so
restarting the stack keeps its tokens.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from streams.apiauth import create_token_file


@click.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--owner", type=int, default=10001, show_default=True, help="the worker's uid")
@click.option(
    "--metrics-group", type=int, default=65534, show_default=True, help="Prometheus's gid"
)
def main(directory: Path, owner: int, metrics_group: int) -> None:
    for name, group, mode in (("api-token", owner, 0o600), ("metrics-token", metrics_group, 0o640)):
        path = directory / name
        if path.exists():
            click.echo(f"{path}: kept")
            continue
        create_token_file(path)
        os.chown(path, owner, group)
        path.chmod(mode)
        click.echo(f"{path}: written")  # the path, never the token


if __name__ == "__main__":
    main()
