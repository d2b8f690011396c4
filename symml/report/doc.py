"""A report as a list of blocks, and its four renderings: Markdown, LaTeX, HTML and plain text.

A report (:mod:`symml.report`) is built once as blocks (headings, paragraphs mixing text
and inline math, displayed math, preformatted text, tables); every formula in it is a
:class:`Math` that carries both of the project's spellings, LaTeX and unicode, printed by
:mod:`symml.printing`. This module only lays the blocks out:

- ``md``: Markdown with ``$…$`` and ``$$…$$`` math, which MathJax renders (Jupyter, GitHub);
- ``tex``: a standalone LaTeX article that pdflatex compiles (amsmath, amssymb only);
  unicode in prose (the derivations' docstrings) is spelled as LaTeX commands;
- ``html``: a standalone page that loads MathJax;
- ``text``: unicode for a terminal.

Takes: blocks. Gives: strings.
"""
from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field

from sympy.printing.latex import translate as _latex_name

__all__ = ["Math", "Heading", "Para", "Display", "Code", "Table", "Document", "FORMATS", "tex_text"]

FORMATS = ("md", "tex", "html", "text")


@dataclass(frozen=True)
class Math:
    """One formula in both spellings: ``latex`` (md, tex, html) and ``text`` (unicode)."""

    latex: str
    text: str


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    """A paragraph: a sequence of plain strings and inline :class:`Math`."""

    parts: list


@dataclass
class Display:
    """Displayed math (one equation, or an ``aligned`` block of them)."""

    math: Math


@dataclass
class Code:
    """Preformatted unicode text (a docstring's formula block)."""

    text: str


@dataclass
class Table:
    """A table; a cell is a string, a :class:`Math` or a :class:`Para`."""

    header: list
    rows: list


@dataclass
class Document:
    """A titled list of blocks, rendered by :meth:`render`.

    >>> doc = Document("demo", [Para(["the loss ", Math("L = x^{2}", "L = x²")])])
    >>> print(doc.render("text"))
    demo
    ====
    <BLANKLINE>
    the loss L = x²
    >>> doc.render("md").splitlines()[-1]
    'the loss $L = x^{2}$'
    """

    title: str
    blocks: list = field(default_factory=list)

    def render(self, fmt: str) -> str:
        if fmt not in FORMATS:
            raise ValueError(f"report format {fmt!r}: expected one of {', '.join(FORMATS)}")
        return {"md": _markdown, "tex": _tex, "html": _html, "text": _text}[fmt](self)


# --------------------------------------------------------------------------- Markdown


def _md_text(s: str) -> str:
    # only what Markdown would misread in our prose (an intraword _ is not emphasis in CommonMark)
    return re.sub(r"([*`<>\\])", r"\\\1", s)


def _md_math(m: Math) -> str:
    # a bare | would end a table cell; \vert is the same bar to MathJax
    return "$" + m.latex.replace("|", r"\vert ") + "$"


def _md_inline(parts) -> str:
    return "".join(_md_math(p) if isinstance(p, Math) else _md_text(p) for p in parts)


def _md_cell(c) -> str:
    if isinstance(c, Math):
        return _md_math(c)
    if isinstance(c, Para):
        return _md_inline(c.parts)
    return _md_text(str(c))


def _markdown(doc: Document) -> str:
    out = [f"# {_md_text(doc.title)}"]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + _md_text(b.text))
        elif isinstance(b, Para):
            out.append(_md_inline(b.parts))
        elif isinstance(b, Display):
            out.append("$$\n" + b.math.latex + "\n$$")
        elif isinstance(b, Code):
            out.append("```text\n" + b.text.rstrip() + "\n```")
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(_md_text(h) for h in b.header) + " |",
                     "|" + "---|" * len(b.header)]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


# --------------------------------------------------------------------------- LaTeX

_TEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
                "^": r"\^{}", "_": r"\_", "%": r"\%", "~": r"\~{}", "<": r"\ensuremath{<}", ">": r"\ensuremath{>}",
                "|": r"\ensuremath{|}"}

#: Unicode in prose → LaTeX (math commands are wrapped in \ensuremath). Greek letters, sub-
#: and superscripts are found from the character's Unicode name and decomposition instead.
TEX_SYMBOLS = {
    "§": r"\S{}", "·": r"\cdot", "×": r"\times", "–": "--", "—": "---", "‖": r"\|", "…": r"\ldots",
    "ℓ": r"\ell", "→": r"\to", "←": r"\leftarrow", "⇒": r"\Rightarrow", "∂": r"\partial", "∇": r"\nabla",
    "∈": r"\in", "−": "-", "≤": r"\le", "≥": r"\ge", "≠": r"\ne", "≈": r"\approx", "⊗": r"\otimes",
    "⊙": r"\odot", "⋆": r"\star", "⌊": r"\lfloor", "⌋": r"\rfloor", "⌈": r"\lceil", "⌉": r"\rceil",
    "⟨": r"\langle", "⟩": r"\rangle", "⪯": r"\preceq", "⪰": r"\succeq", "𝟏": r"\mathbf{1}", "𝟙": r"\mathbf{1}",
    "√": r"\surd", "∞": r"\infty", "±": r"\pm", "∑": r"\sum", "∏": r"\prod", "∫": r"\int", "ℝ": r"\mathbb{R}",
    "′": "'", "ᵀ": r"^{\top}", "⁻": "^{-}", "⁺": "^{+}", "ℒ": r"\mathcal{L}", "∘": r"\circ", "∝": r"\propto",
    "“": "``", "”": "''", "‘": "`", "’": "'", "é": r"\'e", "ö": r"\"o", "ü": r"\"u", "Ã": r"\~A",
    "ȳ": r"\bar{y}", "½": r"\tfrac12", "¼": r"\tfrac14", "¾": r"\tfrac34", "⪢": r"\gg", "≪": r"\ll",
}
_TEXT_MODE = {"§", "–", "—", "“", "”", "‘", "’", "é", "ö", "ü", "Ã", "′"}
_ACCENTS = {"\u0302": r"\hat", "\u0304": r"\bar", "\u0303": r"\tilde", "\u0307": r"\dot"}


def _tex_char(ch: str) -> str:
    """One character of prose as LaTeX (text mode)."""
    if ch in _TEX_SPECIAL:
        return _TEX_SPECIAL[ch]
    if ord(ch) < 128:
        return ch
    if ch in TEX_SYMBOLS:
        cmd = TEX_SYMBOLS[ch]
        return cmd if ch in _TEXT_MODE else r"\ensuremath{" + cmd + "}"
    name = unicodedata.name(ch, "")
    decomposition = unicodedata.decomposition(ch)
    base = "".join(chr(int(h, 16)) for h in decomposition.split() if not h.startswith("<"))
    if decomposition.startswith(("<sub>", "<super>")) and base.isascii():
        mark = "_" if decomposition.startswith("<sub>") else "^"
        return r"\ensuremath{" + mark + "{" + base + "}}"
    if name.startswith("GREEK"):
        word = name.split()[-1].lower()
        word = word.capitalize() if "CAPITAL" in name else word
        return r"\ensuremath{" + _latex_name(word) + "}"
    flat = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
    return flat if flat else "?"  # a character LaTeX cannot spell without extra packages


def tex_text(s: str) -> str:
    """Prose with unicode math signs as text-mode LaTeX that pdflatex compiles.

    >>> tex_text("∇L = Xᵀ(σ(z) − y), 50% of x_i")
    '\\\\ensuremath{\\\\nabla}L = X\\\\ensuremath{^{\\\\top}}(\\\\ensuremath{\\\\sigma}(z) \\\\ensuremath{-} y), 50\\\\% of x\\\\_i'
    """
    out: list[str] = []
    for ch in s:
        if ch in _ACCENTS and out:  # a combining accent applies to the character before it
            prev = out.pop()
            inner = prev[len(r"\ensuremath{"):-1] if prev.startswith(r"\ensuremath{") else prev
            out.append(r"\ensuremath{" + _ACCENTS[ch] + "{" + inner + "}}")
            continue
        out.append(_tex_char(ch))
    return "".join(out)


def _tex_inline(parts) -> str:
    return "".join("$" + p.latex + "$" if isinstance(p, Math) else tex_text(p) for p in parts)


def _tex_cell(c) -> str:
    if isinstance(c, Math):
        return "$" + c.latex + "$"
    if isinstance(c, Para):
        return _tex_inline(c.parts)
    return tex_text(str(c))


#: texlive-latex-base has all of it (and the default OT1 fonts need no font generation)
TEX_PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage{amsmath,amssymb}
\usepackage[margin=2cm]{geometry}
\allowdisplaybreaks
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.5em}
"""


def _tex(doc: Document) -> str:
    out = [TEX_PREAMBLE, r"\begin{document}", r"\section*{" + tex_text(doc.title) + "}"]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out.append((r"\subsection*{" if b.level <= 2 else r"\subsubsection*{") + tex_text(b.text) + "}")
        elif isinstance(b, Para):
            out.append(_tex_inline(b.parts) + "\n")
        elif isinstance(b, Display):
            out.append("\\[\n" + b.math.latex + "\n\\]")
        elif isinstance(b, Code):
            lines = []
            for line in b.text.rstrip().splitlines():
                indent = len(line) - len(line.lstrip(" "))
                lines.append((rf"\hspace*{{{indent / 2:g}em}}" if indent else "") + tex_text(line.strip()))
            out.append("{\\small\\noindent " + "\\\\\n".join(x if x else "~" for x in lines) + "\\par}")
        elif isinstance(b, Table):
            cols = "l" * len(b.header)
            rows = [" & ".join(r"\textbf{" + tex_text(h) + "}" for h in b.header) + r" \\ \hline"]
            rows += [" & ".join(_tex_cell(c) for c in row) + r" \\" for row in b.rows]
            out.append("\\begin{tabular}{" + cols + "}\n" + "\n".join(rows) + "\n\\end{tabular}\n")
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- HTML

MATHJAX = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"


def _html_inline(parts) -> str:
    return "".join(r"\(" + html.escape(p.latex) + r"\)" if isinstance(p, Math) else html.escape(p) for p in parts)


def _html_cell(c) -> str:
    if isinstance(c, Math):
        return r"\(" + html.escape(c.latex) + r"\)"
    if isinstance(c, Para):
        return _html_inline(c.parts)
    return html.escape(str(c))


def _html(doc: Document) -> str:
    body = [f"<h1>{html.escape(doc.title)}</h1>"]
    for b in doc.blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            body.append(f"<p>{_html_inline(b.parts)}</p>")
        elif isinstance(b, Display):
            body.append(r"<div class='math'>\[" + html.escape(b.math.latex) + r"\]</div>")
        elif isinstance(b, Code):
            body.append(f"<pre>{html.escape(b.text.rstrip())}</pre>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in b.header)
            rows = "".join("<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>" for row in b.rows)
            body.append(f"<table><tr>{head}</tr>{rows}</table>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.5}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:0.2em 0.6em;text-align:left}"
             "pre{background:#f6f6f6;padding:0.6em}.math{overflow-x:auto}")
    return ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
            f"<title>{html.escape(doc.title)}</title><style>{style}</style>"
            f"<script async src='{MATHJAX}'></script></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


# --------------------------------------------------------------------------- plain text


def _text_inline(parts) -> str:
    return "".join(p.text if isinstance(p, Math) else p for p in parts)


def _text_cell(c) -> str:
    if isinstance(c, Math):
        return c.text
    if isinstance(c, Para):
        return _text_inline(c.parts)
    return str(c)


def _text(doc: Document) -> str:
    out = [doc.title + "\n" + "=" * len(doc.title)]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out.append(b.text + "\n" + ("-" if b.level <= 2 else "·") * len(b.text))
        elif isinstance(b, Para):
            out.append(_text_inline(b.parts))
        elif isinstance(b, Display):
            out.append("\n".join("    " + line for line in b.math.text.splitlines()))
        elif isinstance(b, Code):
            out.append("\n".join("  " + line for line in b.text.rstrip().splitlines()))
        elif isinstance(b, Table):
            cells = [list(b.header)] + [[_text_cell(c) for c in row] for row in b.rows]
            widths = [max(len(r[k]) for r in cells) for k in range(len(b.header))]
            lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
            lines.insert(1, "  ".join("-" * w for w in widths))
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"
