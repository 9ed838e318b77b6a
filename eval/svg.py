"""Small SVG charts for the evaluation report, written by hand: no plotting library, nothing fetched.

Each function returns one complete `<svg>` document (title for screen readers, white
background, axes 0..1 unless given), so it can be saved as a file and embedded as an image.
"""

from __future__ import annotations

import html

WIDTH, HEIGHT, PAD = 360, 300, 44
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def _frame(title: str, x_label: str, y_label: str, body: list[str], x_range=(0.0, 1.0), y_range=(0.0, 1.0),
           x_ticks: bool = True, y_ticks: bool = True) -> str:
    def fmt(v: float) -> str:
        return f"{v:.3g}"

    (x0, y0), (x1, y1) = (PAD, HEIGHT - PAD), (WIDTH - PAD / 2, PAD / 2)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">',
             f"<title>{html.escape(title)}</title>", f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="none" stroke="#999"/>']
    for share in (0.0, 0.5, 1.0):
        x = x0 + share * (x1 - x0)
        y = y0 - share * (y0 - y1)
        if x_ticks:
            parts.append(f'<text x="{x:.1f}" y="{y0 + 14}" font-size="10" text-anchor="middle">'
                         f'{fmt(x_range[0] + share * (x_range[1] - x_range[0]))}</text>')
        if y_ticks:
            parts.append(f'<text x="{x0 - 5}" y="{y + 3:.1f}" font-size="10" text-anchor="end">'
                         f'{fmt(y_range[0] + share * (y_range[1] - y_range[0]))}</text>')
    parts.append(f'<text x="{(x0 + x1) / 2}" y="{HEIGHT - 8}" font-size="11" text-anchor="middle">'
                 f"{html.escape(x_label)}</text>")
    parts.append(f'<text x="12" y="{(y0 + y1) / 2}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 12 {(y0 + y1) / 2})">{html.escape(y_label)}</text>')
    parts += body
    parts.append("</svg>")
    return "\n".join(parts)


def _to_px(x: float, y: float, x_range=(0.0, 1.0), y_range=(0.0, 1.0)) -> tuple[float, float]:
    (x0, y0), (x1, y1) = (PAD, HEIGHT - PAD), (WIDTH - PAD / 2, PAD / 2)
    sx = (x - x_range[0]) / ((x_range[1] - x_range[0]) or 1.0)
    sy = (y - y_range[0]) / ((y_range[1] - y_range[0]) or 1.0)
    return x0 + sx * (x1 - x0), y0 - sy * (y0 - y1)


def _legend(names: list[str]) -> list[str]:
    return [f'<text x="{PAD + 8}" y="{PAD / 2 + 14 + 13 * i}" font-size="11" fill="{PALETTE[i % len(PALETTE)]}">'
            f"{html.escape(name)}</text>" for i, name in enumerate(names)]


def line_chart(series: dict[str, list[list[float]]], title: str, x_label: str, y_label: str, *,
               diagonal: bool = False, dots: dict[str, list[int]] | None = None) -> str:
    """Polylines of (x, y) points in the unit square; `dots` sizes a dot per point by its count."""
    body = []
    if diagonal:
        (ax, ay), (bx, by) = _to_px(0, 0), _to_px(1, 1)
        body.append(f'<line x1="{ax}" y1="{ay}" x2="{bx}" y2="{by}" stroke="#bbb" stroke-dasharray="4 3"/>')
    for i, (name, points) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        pixels = [_to_px(x, y) for x, y in points]
        body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                    + " ".join(f"{x:.1f},{y:.1f}" for x, y in pixels) + '"/>')
        counts = (dots or {}).get(name)
        if counts:
            top = max(counts)
            body += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{2 + 5 * (c / top) ** 0.5:.1f}" fill="{colour}" '
                     f'fill-opacity="0.6"/>' for (x, y), c in zip(pixels, counts)]
    return _frame(title, x_label, y_label, body + _legend(list(series)))


def histogram_chart(edges: list[float], series: dict[str, list[int]], title: str, x_label: str) -> str:
    """Outlined step histograms of several series over the same bins, as shares of each series."""
    body = []
    x_range = (edges[0], edges[-1])
    shares = {name: [c / (sum(counts) or 1) for c in counts] for name, counts in series.items()}
    top = max((max(v) for v in shares.values() if v), default=1.0) or 1.0
    for i, (name, values) in enumerate(shares.items()):
        colour = PALETTE[i % len(PALETTE)]
        for left, right, value in zip(edges[:-1], edges[1:], values):
            (ax, ay), (bx, by) = _to_px(left, value, x_range, (0, top)), _to_px(right, 0, x_range, (0, top))
            body.append(f'<rect x="{ax:.1f}" y="{ay:.1f}" width="{max(bx - ax, 0.5):.1f}" height="{by - ay:.1f}" '
                        f'fill="{colour}" fill-opacity="0.35" stroke="{colour}"/>')
    return _frame(title, x_label, "share of rows", body + _legend(list(series)), x_range, (0, top))


def bar_chart(values: dict[str, float], title: str, y_label: str) -> str:
    """One bar per name, unit y axis (e.g. AUC per group), names under the bars."""
    body = []
    n = max(len(values), 1)
    (x0, _), (x1, _) = _to_px(0, 0), _to_px(1, 0)
    slot = (x1 - x0) / n
    for i, (name, value) in enumerate(values.items()):
        _, top = _to_px(0, max(0.0, min(1.0, value)))
        _, bottom = _to_px(0, 0)
        x = x0 + i * slot + slot * 0.15
        body.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="{slot * 0.7:.1f}" height="{bottom - top:.1f}" '
                    f'fill="{PALETTE[0]}"/>')
        body.append(f'<text x="{x + slot * 0.35:.1f}" y="{top - 3:.1f}" font-size="9" text-anchor="middle">'
                    f"{value:.3f}</text>")
        body.append(f'<text x="{x + slot * 0.35:.1f}" y="{bottom + 26:.1f}" font-size="9" text-anchor="middle">'
                    f"{html.escape(str(name))[:14]}</text>")
    return _frame(title, "", y_label, body, x_ticks=False)


def heatmap(matrix: list[list[int]], labels: list[str], title: str) -> str:
    """A confusion matrix: rows = people's label, columns = model's call, cells shaded by count."""
    n = len(labels)
    top = max((max(row) for row in matrix), default=1) or 1
    body = []
    (x0, y0), (x1, y1) = _to_px(0, 0), _to_px(1, 1)
    cw, ch = (x1 - x0) / n, (y0 - y1) / n
    for r, row in enumerate(matrix):
        for c, count in enumerate(row):
            shade = 0.15 + 0.85 * count / top
            x, y = x0 + c * cw, y1 + r * ch
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cw:.1f}" height="{ch:.1f}" fill="{PALETTE[0]}" '
                        f'fill-opacity="{shade:.2f}" stroke="white"/>')
            body.append(f'<text x="{x + cw / 2:.1f}" y="{y + ch / 2 + 4:.1f}" font-size="13" text-anchor="middle">'
                        f"{count}</text>")
    for i, name in enumerate(labels):
        body.append(f'<text x="{x0 + (i + 0.5) * cw:.1f}" y="{y1 - 4:.1f}" font-size="10" text-anchor="middle">'
                    f"model {html.escape(name)}</text>")
        body.append(f'<text x="{x0 - 4:.1f}" y="{y1 + (i + 0.5) * ch + 4:.1f}" font-size="10" text-anchor="end">'
                    f"{html.escape(name)}</text>")
    return _frame(title, "model's call", "people's label", body, x_ticks=False, y_ticks=False)
