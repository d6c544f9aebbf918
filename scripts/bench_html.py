"""The benchmark's side-by-side figures as one self-contained HTML page
(`scripts/bench --html FILE`, written by scripts/bench-report.py): for each
comparison, a bar chart of fenliu against the other chain per measure (inline
SVG, no script, nothing fetched) followed by the table of the same figures with
their ratios and targets; the verdicts; the overload run; and links to each
load-test run's own HTML report. The markup is well-formed XML (XHTML-compatible)
so that any XML parser can check it. Python 3 standard library only.
"""

from html import escape as _escape
import os

# Okabe-Ito colours (apart for the common colour-vision deficiencies); the
# second chain is also hatched, so the bars differ without colour.
COLOURS = ("#0072B2", "#D55E00")

STYLE = """
body { font-family: system-ui, sans-serif; font-size: 16px; line-height: 1.45; color: #1a1a1a;
       background: #fff; max-width: 64rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; margin-top: 2.5rem; border-bottom: 1px solid #999; }
table { border-collapse: collapse; margin: 0.75rem 0 1.5rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.25rem; }
th, td { border: 1px solid #bbb; padding: 0.2rem 0.6rem; text-align: left; vertical-align: top; }
thead th { background: #eee; }
td.num { text-align: right; }
svg.plot { width: 100%; height: auto; font-size: 13px; font-family: system-ui, sans-serif; }
svg.plot text { fill: #1a1a1a; }
svg.plot .grid { stroke: #ddd; }
.missed { font-weight: 700; }
"""


def escape(text):
    """`text` safe as element content and as a quoted attribute value."""
    return _escape(str(text), quote=True)


def figure(value, decimals=2):
    """A measured number as the tables write it; a missing one as a dash."""
    if value is None:
        return "–"
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{decimals}f}"


def verdict(met):
    if met is None:
        return ""
    return "met" if met else "MISSED"


def table(caption, headers, rows):
    """A table, every cell escaped; numeric cells right-aligned."""
    out = [f"<table>\n<caption>{escape(caption)}</caption>\n<thead><tr>"]
    out += [f'<th scope="col">{escape(h)}</th>' for h in headers]
    out.append("</tr></thead>\n<tbody>\n")
    if not rows:
        out.append(f'<tr><td colspan="{max(len(headers), 1)}">(none)</td></tr>\n')
    for row in rows:
        out.append("<tr>")
        for index, cell in enumerate(row):
            text = escape(cell)
            if index == 0:
                out.append(f'<th scope="row">{text}</th>')
            else:
                numeric = _is_number(str(cell).rstrip("×% "))
                css = ' class="num"' if numeric else (' class="missed"' if cell == "MISSED" else "")
                out.append(f"<td{css}>{text}</td>")
        out.append("</tr>\n")
    out.append("</tbody>\n</table>\n")
    return "".join(out)


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def comparison_svg(ident, title, names, rows):
    """Two bars per measure (the first chain solid, the second hatched), each
    scaled to the larger of the pair and labelled with its chain and value;
    the ratio and target written under them."""
    row_height, top, label_width, bar_room = 84, 16, 240, 360
    height = top + row_height * max(len(rows), 1) + 16
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 760 {height}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" class="plot">\n'
        f'<title id="{ident}-title">{escape(title)}</title>\n'
        f'<desc id="{ident}-desc">For each measure, {escape(names[0])} (solid bar) and '
        f'{escape(names[1])} (hatched bar), each bar scaled to the larger of the two and '
        f"labelled with its value; under them the ratio and target. The table below "
        f"holds the same figures.</desc>\n"
        f'<defs><pattern id="{ident}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{COLOURS[1]}" stroke-width="3"/></pattern></defs>\n'
    ]
    if not rows:
        out.append(f'<text x="380" y="{top + 24}" text-anchor="middle">no data</text>\n')
    for index, row in enumerate(rows):
        y = top + index * row_height
        a, b = row["a"], row["b"]
        scale = max(a or 0, b or 0) or 1
        out.append(
            f'<text x="{label_width - 10}" y="{y + 26}" text-anchor="end">{escape(row["measure"])}</text>\n'
        )
        for offset, (name, value, fill) in enumerate(
            ((names[0], a, COLOURS[0]), (names[1], b, f"url(#{ident}-hatch)"))
        ):
            width = bar_room * (value or 0) / scale
            bar_y = y + 6 + offset * 24
            out.append(
                f'<rect x="{label_width}" y="{bar_y}" width="{width:.1f}" height="18" fill="{fill}" '
                f'stroke="{COLOURS[offset]}"/>'
                f'<text x="{label_width + width + 6:.1f}" y="{bar_y + 14}">'
                f"{escape(name)} {escape(figure(value))}</text>\n"
            )
        ratio = row.get("ratio")
        target = row.get("target") or ""
        note = f"{figure(ratio)} ×" if ratio is not None else "–"
        if target:
            note += f" ({target}: {verdict(row.get('met'))})"
        out.append(f'<text x="{label_width}" y="{y + 68}">ratio {escape(note)}</text>\n')
    out.append("</svg>\n")
    return "".join(out)


def comparison_section(index, comparison):
    names = comparison["names"]
    ident = f"comparison-{index}"
    rows = [
        [
            row["measure"],
            figure(row["a"]),
            figure(row["b"]),
            figure(row.get("ratio")) if row.get("ratio") is not None else "–",
            row.get("target") or "",
            verdict(row.get("met")),
        ]
        for row in comparison["rows"]
    ]
    return (
        f'<section id="{ident}">\n<h2>{escape(comparison["title"])}</h2>\n'
        + (f'<p>{escape(comparison["note"])}</p>\n' if comparison.get("note") else "")
        + "<figure>\n"
        + comparison_svg(ident, comparison["title"], names, comparison["rows"])
        + f"<figcaption>{escape(names[0])} against {escape(names[1])}, measure by measure.</figcaption>\n</figure>\n"
        + table(
            comparison["title"],
            ["measure", names[0], names[1], f"ratio ({names[0]} / {names[1]})", "target", "verdict"],
            rows,
        )
        + "</section>\n"
    )


def run_links(out_dir, html_path):
    """Links to each run's own load-test report found in `out_dir`, relative
    to the page."""
    here = os.path.dirname(os.path.abspath(html_path))
    page = os.path.abspath(html_path)
    runs = []
    for name in sorted(os.listdir(out_dir)):
        path = os.path.abspath(os.path.join(out_dir, name))
        if name.endswith(".html") and path != page:
            runs.append((name[: -len(".html")], os.path.relpath(path, here)))
    if not runs:
        return "<p>No run wrote a report of its own (the runs' <code>--html</code>).</p>\n"
    items = "".join(
        f'<li><a href="{escape(href)}">{escape(name)}</a></li>\n' for name, href in runs
    )
    return f"<ul>\n{items}</ul>\n"


def write(html_path, out_dir, heading, setting, comparisons, verdicts, overload):
    """Writes the page: `comparisons` (each with `title`, `names`, `rows` of
    `measure`, `a`, `b`, `ratio`, `target`, `met`, and an optional `note`),
    `verdicts` (measure, value, target, met), and the overload run's rows."""
    parts = [
        '<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml" lang="en">\n<head>\n'
        '<meta charset="utf-8"/>\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>\n'
        f"<title>{escape(heading)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(heading)}</h1>\n<p>{escape(setting)}</p>\n",
        '<section id="verdicts">\n<h2>Targets</h2>\n',
        table(
            "Each target and whether this run met it",
            ["measure", "value", "target", "verdict"],
            [[m, v, t, verdict(met)] for m, v, t, met in verdicts],
        ),
        "</section>\n",
    ]
    parts += [comparison_section(i, c) for i, c in enumerate(comparisons)]
    parts += [
        '<section id="overload">\n<h2>Overload</h2>\n',
        table(overload["title"], ["measure", "value", "target", "verdict"],
              [[m, v, t, verdict(met)] for m, v, t, met in overload["rows"]]),
        "</section>\n",
        '<section id="runs">\n<h2>Each run\'s own report</h2>\n',
        run_links(out_dir, html_path),
        "</section>\n</body>\n</html>\n",
    ]
    with open(html_path, "w", encoding="utf-8") as page:
        page.write("".join(parts))
