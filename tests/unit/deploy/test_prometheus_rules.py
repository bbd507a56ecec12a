"""The alert rules and Prometheus config pass promtool (Debian's prometheus package)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

DEPLOY = Path(__file__).parents[3] / "deploy" / "prometheus"


def promtool(*args: str, cwd: Path = DEPLOY) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool missing: `make tools` installs the Debian prometheus package"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_rules_are_valid() -> None:
    result = promtool("check", "rules", "rules/ordertriage.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", "rules/ordertriage.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_config_is_valid(tmp_path: Path) -> None:
    # promtool wants the scrape's credentials_file to exist: compose mounts it at tokens/.
    copy = tmp_path / "prometheus"
    shutil.copytree(DEPLOY, copy)
    (copy / "tokens").mkdir()
    (copy / "tokens" / "metrics-token").write_text("t" * 32)
    result = promtool("check", "config", "prometheus.yml", cwd=copy)
    assert result.returncode == 0, result.stdout + result.stderr
