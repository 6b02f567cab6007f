"""ReportDocument → file: PDF with reportlab (platypus for the flow, reportlab.graphics for the chart), CSV
(the table, as a spreadsheet opens it) and JSON (everything, machine-readable)."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.analytics.domain.documents import Chart, ReportDocument, generated_at

PALETTE = [colors.HexColor(c) for c in ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6")]
SEVERITY_COLOURS = {"critical": "#dc2626", "warning": "#f59e0b", "info": "#3b82f6"}
MAX_CHART_LABELS = 16


class ReportRenderer:
    def render(self, document: ReportDocument, format: str) -> bytes:
        if format == "pdf":
            return render_pdf(document)
        if format == "csv":
            return render_csv(document)
        return render_json(document)


def render_json(document: ReportDocument) -> bytes:
    body: dict[str, Any] = {
        "reportType": document.report_type,
        "title": document.title,
        "generatedAt": generated_at(document.generated_at_ms),
        "parameters": dict(document.parameters),
        "summary": dict(document.summary),
        "columns": document.columns,
        "rows": [dict(zip(document.columns, row, strict=True)) for row in document.rows],
        "notes": document.notes,
    }
    return orjson.dumps(body, option=orjson.OPT_INDENT_2)


def render_csv(document: ReportDocument) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(document.columns)
    writer.writerows(["" if value is None else value for value in row] for row in document.rows)
    return out.getvalue().encode()


def render_pdf(document: ReportDocument) -> bytes:
    out = io.BytesIO()
    styles = getSampleStyleSheet()
    page = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=f"iotmon — {document.title}",
        author="iotmon",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
    )
    width = A4[0] - 36 * mm
    story: list[Any] = [
        Paragraph(f"iotmon · {document.title} report", styles["Title"]),
        Paragraph(f"Generated {generated_at(document.generated_at_ms)}", styles["Italic"]),
        Spacer(1, 4 * mm),
        _pairs(document.parameters + document.summary, width),
        Spacer(1, 6 * mm),
    ]
    if document.chart is not None and document.chart.categories:
        story += [_chart(document.chart, width), Spacer(1, 6 * mm)]
    story.append(_table(document, width))
    for note in document.notes:
        story += [Spacer(1, 3 * mm), Paragraph(note, styles["Normal"])]
    page.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return out.getvalue()


def _pairs(pairs: list[tuple[str, str]], width: float) -> Table:
    table = Table([[name, value] for name, value in pairs], colWidths=[45 * mm, width - 45 * mm])
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold"),
                ("FONTSIZE", (0, 0), (-1, -1), 9),
                ("TEXTCOLOR", (0, 0), (0, -1), colors.HexColor("#374151")),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _chart(chart: Chart, width: float) -> Drawing:
    height = 70 * mm
    drawing = Drawing(width, height)
    drawing.add(String(0, height - 10, chart.title, fontName="Helvetica-Bold", fontSize=10))
    bars = VerticalBarChart()
    bars.x, bars.y = 40, 30
    bars.width, bars.height = int(width - 60), int(height - 55)
    bars.data = [tuple(values) for values in chart.series.values()]
    bars.categoryAxis.categoryNames = _sparse_labels(chart.categories)
    bars.categoryAxis.labels.fontSize = 7
    bars.categoryAxis.labels.angle = 30 if len(chart.categories) > 6 else 0
    bars.categoryAxis.labels.boxAnchor = "ne" if len(chart.categories) > 6 else "n"
    bars.valueAxis.valueMin = 0
    bars.valueAxis.labels.fontSize = 7
    top = max((max(values) for values in chart.series.values() if values), default=0)
    if len(chart.series) > 1:
        top = max(sum(column) for column in zip(*chart.series.values(), strict=True))
    integral = all(float(v).is_integer() for values in chart.series.values() for v in values)
    bars.valueAxis.valueMax = top * 1.1 if top > 0 else 1
    bars.valueAxis.labelTextFormat = "%d" if integral and top < 10_000 else _axis_format(top)
    if integral and top <= 10:
        bars.valueAxis.valueStep = max(1, round(top / 5))
    bars.barSpacing = 0 if len(chart.categories) > 40 else 1
    if len(chart.series) > 1:
        bars.categoryAxis.style = "stacked"
    for index, name in enumerate(chart.series):
        bars.bars[index].fillColor = (
            colors.HexColor(SEVERITY_COLOURS[name]) if name in SEVERITY_COLOURS else PALETTE[index % len(PALETTE)]
        )
        bars.bars[index].strokeColor = None
    drawing.add(bars)
    if len(chart.series) > 1:
        legend = Legend()
        legend.x, legend.y = int(width - 10), int(height - 8)
        legend.alignment = "right"
        legend.columnMaximum = 1
        legend.fontSize = 8
        legend.boxAnchor = "ne"
        legend.colorNamePairs = [(bars.bars[i].fillColor, name) for i, name in enumerate(chart.series)]
        drawing.add(legend)
    return drawing


def _table(document: ReportDocument, width: float) -> Table:
    body = [["" if value is None else _cell(value) for value in row] for row in document.rows]
    table = Table([document.columns, *body], repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e5e7eb")),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f9fafb")]),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.HexColor("#9ca3af")),
                ("ALIGN", (1, 1), (-1, -1), "RIGHT")
                if document.report_type != "device-uptime"
                else ("ALIGN", (3, 1), (-1, -1), "RIGHT"),
            ]
        )
    )
    return table


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _sparse_labels(categories: list[str]) -> list[str]:
    """Every n-th label only, so that a year of days stays readable."""
    step = max(1, -(-len(categories) // MAX_CHART_LABELS))
    return [label if index % step == 0 else "" for index, label in enumerate(categories)]


def _axis_format(top: float) -> str | Any:
    if top >= 10_000_000:
        return lambda value: f"{value / 1_000_000:,.0f}M"
    if top >= 10_000:
        return lambda value: f"{value / 1000:,.0f}k"
    return "%d" if top >= 10 else "%.1f"


def _footer(canvas: Any, doc: Any) -> None:
    canvas.saveState()
    canvas.setFont("Helvetica", 7)
    canvas.setFillColor(colors.HexColor("#6b7280"))
    canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"page {doc.page}")
    canvas.restoreState()
