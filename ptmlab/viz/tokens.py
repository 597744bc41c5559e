"""Pictures of tokenization: coloured tokens as HTML, and OOV rate / sequence length against vocabulary size.

Pure functions (tokens and measurement records in, HTML strings and plotly figures out) for chapter 02, following the
subword-unit comparisons of Sennrich et al. 2016 (BPE), Schuster & Nakajima 2012 (WordPiece) and Kudo 2018 (Unigram)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from ptmlab.errors import InputError

# Soft backgrounds that keep black text readable; neighbours always differ so token boundaries are visible.
PALETTE = ("#ffd6a5", "#caffbf", "#9bf6ff", "#bdb2ff", "#ffc6ff", "#fdffb6", "#a0c4ff", "#ffadad")
UNKNOWN_STYLE = "background:#c0392b;color:white"
SPECIAL_STYLE = "background:#555;color:white"
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
END_OF_WORD = "</w>"
KIND_COLOURS = {
    "word": "#7f8c8d",
    "char": "#8e44ad",
    "bpe": "#e67e22",
    "bpe (ours)": "#d35400",
    "wordpiece": "#2980b9",
    "unigram": "#27ae60",
}
KIND_LABELS = {"word": "word", "char": "character", "bpe": "BPE", "wordpiece": "WordPiece", "unigram": "Unigram"}


def _token_label(token: str) -> str:
    """The token's text as HTML, with BPE's end-of-word marker drawn small and grey so the letters stand out."""
    if token.endswith(END_OF_WORD) and token != END_OF_WORD:
        return html.escape(token[: -len(END_OF_WORD)]) + '<sub style="color:#888;font-size:70%">&lt;/w&gt;</sub>'
    return html.escape(token)


def tokens_html(tokens: Sequence[str], *, unknown: str = "[UNK]", highlight: Sequence[int] = ()) -> str:
    """Coloured boxes, one per token: unknown tokens in red, special tokens in grey, `highlight` indices outlined."""
    highlighted = set(highlight)
    boxes = []
    for i, token in enumerate(tokens):
        if token == unknown:
            style = UNKNOWN_STYLE
        elif token in SPECIALS:
            style = SPECIAL_STYLE
        else:
            style = f"background:{PALETTE[i % len(PALETTE)]};color:black"
        if i in highlighted:
            style += ";outline:2px solid #c0392b"
        boxes.append(
            f'<span class="ptm-token" title="#{i}: {html.escape(token)}" style="{style};padding:1px 3px;margin:1px;'
            f'border-radius:3px;font-family:monospace;display:inline-block">{_token_label(token)}</span>'
        )
    return "".join(boxes)


def comparison_html(
    rows: Mapping[str, Sequence[str]], *, unknown: str = "[UNK]", errors: Mapping[str, str] | None = None
) -> str:
    """A table with one row per tokenizer: its name, the number of tokens, and the coloured tokens."""
    lines = ['<table class="ptm-token-table" style="border-collapse:collapse">']
    lines.append(
        "<tr><th style='text-align:left'>tokenizer</th><th>tokens</th><th style='text-align:left'>split</th></tr>"
    )
    for name, tokens in rows.items():
        n_unknown = sum(t == unknown for t in tokens)
        count = f"{len(tokens)}" + (f" <span style='color:#c0392b'>({n_unknown} unk)</span>" if n_unknown else "")
        body = tokens_html(tokens, unknown=unknown)
        lines.append(
            f"<tr style='border-top:1px solid #ddd'><td style='padding:4px 8px'><b>{html.escape(name)}</b></td>"
            f"<td style='padding:4px 8px;text-align:right'>{count}</td><td style='padding:4px 8px'>{body}</td></tr>"
        )
    for name, message in (errors or {}).items():
        lines.append(
            f"<tr><td style='padding:4px 8px'><b>{html.escape(name)}</b></td><td></td>"
            f"<td style='color:#c0392b'>{html.escape(message)}</td></tr>"
        )
    lines.append("</table>")
    return "\n".join(lines)


def segmentation_html(segmentations: Mapping[str, Sequence[str]], changed: Sequence[str] = ()) -> str:
    """One row per word with its current segmentation; words that the last merge changed are marked."""
    lines = ['<table class="ptm-segmentation" style="border-collapse:collapse">']
    for word, symbols in segmentations.items():
        mark = "◀ changed" if word in changed else ""
        lines.append(
            f"<tr><td style='padding:2px 8px;font-family:monospace'>{html.escape(word)}</td>"
            f"<td style='padding:2px 8px'>{tokens_html(list(symbols))}</td>"
            f"<td style='padding:2px 8px;color:#888'>{len(symbols)} symbols</td>"
            f"<td style='color:#c0392b;padding:2px 8px'>{mark}</td></tr>"
        )
    lines.append("</table>")
    return "\n".join(lines)


def table_html(header: Sequence[str], rows: Sequence[Sequence[object]], caption: str = "") -> str:
    """A small HTML table (the notebooks print results without pandas); floats get 4 significant digits."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return html.escape("" if value is None else str(value))

    head = "".join(f"<th style='padding:3px 10px;text-align:left'>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td style='padding:3px 10px'>{cell(v)}</td>" for v in row) + "</tr>" for row in rows
    )
    title = f"<caption style='text-align:left;font-weight:bold'>{html.escape(caption)}</caption>" if caption else ""
    return f"<table style='border-collapse:collapse'>{title}<tr>{head}</tr>{body}</table>"


def vocab_sweep_figure(records: Sequence[Mapping], references: Sequence[Mapping] = (), title: str = ""):
    """Two panels against vocabulary size (log scale): held-out OOV rate and mean tokens per sentence.

    `records` come from `ptmlab.chapters.tokenization.sweep_vocab_sizes` (one line per kind; the character tokenizer, which has a
    single vocabulary, is one marker); `references` (e.g. a pre-trained tokenizer measured with `bpe.measure`) are stars."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not records:
        raise InputError("No measurements to plot.", fix="Run ptmlab.chapters.tokenization.sweep_vocab_sizes first.")
    figure = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Held-out words the tokenizer cannot spell (OOV, %)", "Mean tokens per held-out sentence"),
        horizontal_spacing=0.1,
    )
    kinds = list(dict.fromkeys(r["kind"] for r in records))
    for kind in kinds:
        rows = sorted((r for r in records if r["kind"] == kind), key=lambda r: r["vocab_size"])
        x = [r["vocab_size"] for r in rows]
        hover = [
            f"{KIND_LABELS.get(kind, kind)}<br>vocabulary {r['vocab_size']:,}<br>OOV {100 * r['oov_rate']:.2f}%"
            f"<br>{r['mean_length']:.1f} tokens/sentence<br>{r['tokens_per_word']:.2f} tokens/word"
            for r in rows
        ]
        style = dict(
            mode="lines+markers" if len(rows) > 1 else "markers",
            name=KIND_LABELS.get(kind, kind),
            legendgroup=kind,
            marker=dict(color=KIND_COLOURS.get(kind), size=9 if len(rows) > 1 else 13),
            line=dict(color=KIND_COLOURS.get(kind)),
            hovertext=hover,
            hoverinfo="text",
        )
        figure.add_trace(go.Scatter(x=x, y=[100 * r["oov_rate"] for r in rows], **style), row=1, col=1)
        figure.add_trace(go.Scatter(x=x, y=[r["mean_length"] for r in rows], showlegend=False, **style), row=1, col=2)
    for ref in references:
        style = dict(
            mode="markers",
            name=str(ref["kind"]),
            legendgroup=str(ref["kind"]),
            marker=dict(symbol="star", size=15, color="black"),
            hovertext=f"{ref['kind']}<br>vocabulary {ref['vocab_size']:,}<br>OOV {100 * ref['oov_rate']:.2f}%"
            f"<br>{ref['mean_length']:.1f} tokens/sentence",
            hoverinfo="text",
        )
        figure.add_trace(go.Scatter(x=[ref["vocab_size"]], y=[100 * ref["oov_rate"]], **style), row=1, col=1)
        figure.add_trace(
            go.Scatter(x=[ref["vocab_size"]], y=[ref["mean_length"]], showlegend=False, **style), row=1, col=2
        )
    figure.update_xaxes(type="log", title_text="vocabulary size")
    figure.update_yaxes(title_text="OOV rate (%)", rangemode="tozero", row=1, col=1)
    figure.update_yaxes(title_text="tokens per sentence", rangemode="tozero", row=1, col=2)
    figure.update_layout(
        title=title or "The vocabulary-size trade-off: words leave words out, characters make sequences long",
        height=420,
        margin=dict(l=50, r=20, t=70, b=50),
        legend=dict(orientation="h", y=-0.2),
    )
    return figure


def curve_svg(
    values: Sequence[float],
    marker: int | None = None,
    *,
    width: int = 520,
    height: int = 130,
    x_label: str = "",
    y_label: str = "",
) -> str:
    """A small line chart as inline SVG (no JavaScript, so a slider can redraw it cheaply), with a dot at `marker`."""
    if len(values) < 2:
        raise InputError("A curve needs at least two values.", fix="Learn at least one merge first.")
    left, right, top, bottom = 46, 10, 10, 28
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (width - left - right) * i / (len(values) - 1)
        y = top + (height - top - bottom) * (hi - v) / span
        return x, y

    step = max(1, len(values) // 400)  # at most ~400 points keep the SVG small
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, values[i]) for i in range(0, len(values), step)))
    parts = [
        f'<svg class="ptm-curve" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<polyline fill="none" stroke="{KIND_COLOURS["bpe (ours)"]}" stroke-width="2" points="{points}"/>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>',
        f'<text x="{left - 4}" y="{top + 8}" font-size="10" text-anchor="end">{hi:.3g}</text>',
        f'<text x="{left - 4}" y="{height - bottom}" font-size="10" text-anchor="end">{lo:.3g}</text>',
        f'<text x="{left}" y="{height - 8}" font-size="10">0</text>',
        f'<text x="{width - right}" y="{height - 8}" font-size="10" text-anchor="end">{len(values) - 1}</text>',
        f'<text x="{(left + width) / 2}" y="{height - 4}" font-size="11" text-anchor="middle">{html.escape(x_label)}</text>',
        f'<text x="12" y="{(top + height - bottom) / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {(top + height - bottom) / 2})">{html.escape(y_label)}</text>',
    ]
    if marker is not None:
        i = max(0, min(int(marker), len(values) - 1))
        x, y = xy(i, values[i])
        parts.append(f'<circle class="ptm-marker" cx="{x:.1f}" cy="{y:.1f}" r="5" fill="black"/>')
        parts.append(f'<text x="{x + 7:.1f}" y="{y - 7:.1f}" font-size="11">{values[i]:.3g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def units_figure(studies: Sequence[Mapping], title: str = "Chinese: characters vs words"):
    """Bars: vocabulary size and held-out OOV rate for each unit (records from `chapters.tokenization.chinese_characters_vs_words`)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = [s["units"] for s in studies]
    figure = make_subplots(
        rows=1, cols=3, subplot_titles=("vocabulary size", "held-out OOV (%)", "tokens per sentence")
    )
    colours = ["#8e44ad", "#7f8c8d", "#e67e22", "#2980b9"][: len(names)]
    for col, (key, scale) in enumerate((("vocab_size", 1), ("oov_rate", 100), ("mean_length", 1)), start=1):
        values = [scale * s[key] for s in studies]
        figure.add_trace(
            go.Bar(x=names, y=values, marker_color=colours, text=[f"{v:.3g}" for v in values], showlegend=False),
            row=1,
            col=col,
        )
    figure.update_layout(title=title, height=320, margin=dict(l=40, r=20, t=70, b=40))
    return figure
