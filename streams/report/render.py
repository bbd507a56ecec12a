"""A report's figures as a self-contained HTML page (matplotlib charts inlined) and a CSV."""

from __future__ import annotations

import base64
import csv
import io
from decimal import Decimal
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: charts are rendered to PNG bytes
import matplotlib.pyplot as plt
from jinja2 import Environment, PackageLoader, select_autoescape
from matplotlib.figure import Figure

from streams.report.figures import Figures
from streams.report.staff import MEASURES

#: The dimensions charted (all of ``DIMENSIONS`` are in the tables and the CSV).
CHARTED = ("product_type", "customer_segment", "value_tier", "priority")
CSV_COLUMNS = ("section", "dimension", "value", "currency", "measure", "figure")


def csv_rows(figures: Figures) -> list[dict[str, str]]:
    """Tidy rows: one figure per row, so a spreadsheet can pivot them any way."""
    rows: list[dict[str, str]] = []

    def row(section: str, dimension: str, value: str, currency: str, measure: str, figure: object):
        rows.append(
            dict(
                zip(
                    CSV_COLUMNS,
                    (section, dimension, value, currency, measure, str(figure)),
                    strict=True,
                )
            )
        )

    row("total", "", "", "", "orders", figures.orders)
    for currency, amount in sorted(figures.amounts.items()):
        row("total", "", "", currency, "amount", amount)
    for dimension, cells in figures.by.items():
        for value, cell in cells.items():
            row("mix", dimension, value, "", "orders", cell.orders)
            row(
                "mix", dimension, value, "", "order_share", f"{figures.share(dimension, value):.4f}"
            )
            for currency in sorted(figures.amounts):
                share = figures.amount_share(dimension, value, currency)
                row(
                    "mix",
                    dimension,
                    value,
                    currency,
                    "amount",
                    cell.amounts.get(currency, Decimal(0)),
                )
                row("mix", dimension, value, currency, "amount_share", f"{share:.4f}")
    for start, cell in figures.trend.items():
        row("trend", figures.period.name, start.isoformat(), "", "orders", cell.orders)
        for currency in sorted(cell.amounts):
            row(
                "trend",
                figures.period.name,
                start.isoformat(),
                currency,
                "amount",
                cell.amounts[currency],
            )
    for category, count in sorted(figures.status_now.items()):
        row("status_now", "status_category", category, "", "orders", count)
    fb = figures.feedback
    row("feedback", "", "", "", "received", fb.received)
    row("feedback", "", "", "", "review_share", f"{fb.review_share:.4f}")
    row("feedback", "", "", "", "resolved", fb.resolved)
    if fb.median_first_response_minutes is not None:
        row(
            "feedback",
            "",
            "",
            "",
            "median_first_response_minutes",
            fb.median_first_response_minutes,
        )
    for dimension, counts in (
        ("category", fb.by_category),
        ("channel", fb.by_channel),
        ("team", fb.by_team),
    ):
        for value, count in sorted(counts.items()):
            row("feedback", dimension, value, "", "received", count)
    for clock, count in sorted(fb.breaches.items()):
        row("feedback", "clock", clock, "", "deadlines_missed", count)
    for team, measure, _, now, before in figures.staff.rows():
        row("staff", "team", team, "", measure, "" if now is None else now)
        row("staff", "team", team, "", f"{measure}_previous", "" if before is None else before)
    for dim, acc in figures.accuracy.get("dimensions", {}).items():
        row("accuracy", dim, "", "", "corrected", acc["corrected"])
        share = acc["share_corrected"]
        row("accuracy", dim, "", "", "share_corrected", "" if share is None else share)
        for rule, n in acc["by_rule"].items():
            row("accuracy", dim, rule, "", "corrected_by_rule", n)
        for pair, n in acc["confusion"].items():
            row("accuracy", dim, pair, "", "confusion", n)
    care = figures.care
    for (before, after), count in sorted(care.moves.items()):
        row("care", "segment_move", f"{before}->{after}", "", "customers", count)
    for strategy in care.strategies:
        for measure in ("opened", "done", "done_late", "still_open", "overdue"):
            row("care", "strategy", strategy, "", measure, getattr(care, measure)[strategy])
    return rows


def write_csv(figures: Figures, path: Path) -> None:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_rows(figures))


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def mix_chart(figures: Figures, dimension: str) -> str:
    """Share of orders (left) and share of amount per currency (right) for one dimension."""
    cells = figures.by[dimension]
    values = list(cells)
    currencies = sorted(figures.amounts)
    colours = plt.get_cmap("tab10").colors
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(10, 0.5 * max(len(values), len(currencies)) + 1.6)
    )
    shares = [figures.share(dimension, v) * 100 for v in values]
    left.barh(values, shares, color=[colours[i % 10] for i in range(len(values))])
    left.invert_yaxis()
    left.set_xlim(0, 100)
    left.set_xlabel("% of orders")
    left.set_title(f"orders by {dimension.replace('_', ' ')}")
    for y, (v, share) in enumerate(zip(values, shares, strict=True)):
        left.text(share + 1, y, f"{share:.1f}% ({cells[v].orders})", va="center", fontsize=8)
    lefts = [0.0] * len(currencies)
    for i, v in enumerate(values):
        part = [figures.amount_share(dimension, v, c) * 100 for c in currencies]
        right.barh(currencies, part, left=lefts, color=colours[i % 10], label=v)
        lefts = [a + b for a, b in zip(lefts, part, strict=True)]
    right.set_xlim(0, 100)
    right.invert_yaxis()
    right.set_xlabel("% of amount, per currency")
    right.set_title("amount share")
    right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _png(fig)


def trend_chart(figures: Figures) -> str:
    starts = list(figures.trend)
    fmt = "%H:%M" if figures.period.name == "day" else "%a %d %b"
    labels = [s.strftime(fmt) for s in starts]
    counts = [figures.trend[s].orders for s in starts]
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.bar(range(len(starts)), counts, color="#2563eb")
    ax.set_xticks(range(len(starts)), labels, rotation=60 if len(starts) > 8 else 0, fontsize=8)
    ax.set_ylabel("orders created")
    unit = "hour" if figures.period.name == "day" else "day"
    ax.set_title(f"orders per {unit} ({figures.period.timezone})")
    return _png(fig)


def status_chart(figures: Figures) -> str:
    items = sorted(figures.status_now.items())
    fig, ax = plt.subplots(figsize=(10, 1.8))
    ax.barh([k for k, _ in items], [v for _, v in items], color="#0d9488")
    ax.invert_yaxis()
    ax.set_xlabel("orders")
    ax.set_title("status category now (orders of the period)")
    return _png(fig)


def write_html(figures: Figures, path: Path, generated_at: str) -> None:
    env = Environment(
        loader=PackageLoader("streams.report", "templates"), autoescape=select_autoescape()
    )
    has_orders = figures.orders > 0
    page = env.get_template("report.html.j2").render(
        figures=figures,
        generated_at=generated_at,
        charts={d: mix_chart(figures, d) for d in CHARTED} if has_orders else {},
        trend=trend_chart(figures) if has_orders else None,
        status=status_chart(figures) if has_orders else None,
        currencies=sorted(figures.amounts),
        staff_measures=MEASURES,
    )
    path.write_text(page)
