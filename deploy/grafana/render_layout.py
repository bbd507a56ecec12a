"""Draw the provisioned Grafana dashboard's layout from its JSON (a PNG for the README).

Grafana itself is not a Debian package, so the README cannot show a screenshot taken here.
This picture is drawn from the same JSON Grafana loads: panel positions, sizes, types, titles
and the series each panel plots, so it cannot drift from what Grafana would show.

    .venv/bin/python deploy/grafana/render_layout.py [dashboard.json] [out.png]
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

HERE = Path(__file__).parent
COLOURS = {"stat": "#dbeafe", "timeseries": "#dcfce7", "piechart": "#fef9c3", "text": "#f3f4f6"}
METRIC = re.compile(r"\b(?:ordertriage|faust)_[a-z0-9_]+|\bup\b")


def summary(panel: dict[str, object]) -> str:
    """What the panel shows, in a few words: its legends, or the metrics it reads."""
    targets = panel.get("targets") or []
    assert isinstance(targets, list)
    legends = [t["legendFormat"] for t in targets if t.get("legendFormat")]
    metrics = sorted({m for t in targets for m in METRIC.findall(t["expr"])})
    parts = [", ".join(legends)] if legends else []
    parts += metrics
    return " | ".join(parts)


def render(dashboard: Path, out: Path) -> None:
    data = json.loads(dashboard.read_text())
    panels = data["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    unit = 0.42  # inches per grid row; 24 columns span the width
    fig, ax = plt.subplots(figsize=(16, rows * unit + 0.8), dpi=110)
    ax.set_xlim(0, 24)
    ax.set_ylim(rows, -1.2)
    ax.axis("off")
    ax.text(
        0,
        -0.6,
        f"Grafana dashboard \u201c{data['title']}\u201d (layout drawn from "
        f"{dashboard.name}; refresh {data['refresh']})",
        fontsize=13,
        weight="bold",
    )
    for p in panels:
        g = p["gridPos"]
        box = FancyBboxPatch(
            (g["x"] + 0.12, g["y"] + 0.12),
            g["w"] - 0.24,
            g["h"] - 0.24,
            boxstyle="round,pad=0,rounding_size=0.25",
            facecolor=COLOURS.get(p["type"], "#ffffff"),
            edgecolor="#64748b",
            linewidth=1,
        )
        ax.add_patch(box)
        ax.text(g["x"] + 0.4, g["y"] + 0.75, p["title"], fontsize=10, weight="bold", va="center")
        ax.text(
            g["x"] + g["w"] - 0.4,
            g["y"] + 0.75,
            p["type"],
            fontsize=8,
            color="#475569",
            ha="right",
            va="center",
            style="italic",
        )
        text = p.get("options", {}).get("content") if p["type"] == "text" else summary(p)
        width = max(18, int(g["w"] * 5.2))
        lines = textwrap.wrap(text or "", width)[: max(1, int(g["h"] * 1.6) - 2)]
        ax.text(
            g["x"] + 0.4,
            g["y"] + 1.4,
            "\n".join(lines),
            fontsize=7.5,
            va="top",
            color="#334155",
            family="monospace",
        )
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "dashboards/ordertriage.json"
    target = (
        Path(sys.argv[2]) if len(sys.argv) > 2 else HERE.parents[1] / "docs/dashboard-layout.png"
    )
    render(source, target)
    sys.stdout.write(f"wrote {target}\n")
