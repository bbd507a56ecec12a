"""The compose init step writes each token once, private to the user that reads it."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from streams.tools.tokens import main


def test_tokens_are_written_once_with_their_readers_modes(tmp_path: Path) -> None:
    args = [str(tmp_path / "tokens"), "--owner", str(os.getuid())]
    args += ["--metrics-group", str(os.getgid())]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    api, metrics = tmp_path / "tokens" / "api-token", tmp_path / "tokens" / "metrics-token"
    assert api.stat().st_mode & 0o777 == 0o600 and metrics.stat().st_mode & 0o777 == 0o640
    tokens = api.read_text(), metrics.read_text()
    assert tokens[0] != tokens[1] and all(t.strip() not in first.output for t in tokens)
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and again.output.count("kept") == 2
    assert (api.read_text(), metrics.read_text()) == tokens
