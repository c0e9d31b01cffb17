"""Griffe extension: read vlmtsc's numpydoc docstrings the way Sphinx would.

vlmtsc's docstrings are written for numpydoc (Sphinx roles, ``.. [1]`` citations,
``{"a", "b"}`` value sets); mkdocstrings renders Markdown. This extension rewrites
each docstring's text before griffe parses it, without touching the package:

- Sphinx roles (``:class:`~pkg.Name```, ``:func:`pkg.f```, ...) become code spans
  (``~`` keeps the last component, as Sphinx shows it);
- citations ``.. [1] text`` become ``[1] text``;
- a value set in a parameter's type, ``{"a", "b"} or None, default=x``, becomes
  ``"a" | "b" | None, default=x``: griffe's numpy parser otherwise takes the first
  value of a set as the default, even when ``default=`` says otherwise;
- one line for several parameters with as many types and defaults,
  ``a, b : int, float, default=1, 0.5``, becomes one entry per parameter (with
  the shared description), instead of every name getting all the types.

Used by mkdocs.yml (``extensions: - docs/griffe_numpydoc.py``).
"""

from __future__ import annotations

import re

from griffe import Extension, Object

_ROLE = re.compile(
    r":(?:py:)?(?:func|class|meth|mod|attr|data|obj|exc|const|ref|term):`(~?)([^`]+)`"
)
_CITATION = re.compile(r"^(\s*)\.\. \[(\w+)\]", re.MULTILINE)
_VALUE_SET = re.compile(r"^(\s*[\w*]+(?:, [\w*]+)* : )\{([^{}]+)\}(.*)$", re.MULTILINE)
_SHARED_LINE = re.compile(r"^(\s*)(\w+(?:, \w+)+) : (.+), default=(.+)$")


def _role(match: re.Match) -> str:
    shorten, target = match.groups()
    if shorten:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def _value_set(match: re.Match) -> str:
    head, values, rest = match.groups()
    values = " | ".join(value.strip() for value in values.split(","))
    rest = re.sub(r"^ or ", " | ", rest)
    return f"{head}{values}{rest}"


def _split_shared(text: str) -> str:
    """One entry per name where a line lists names, types and defaults alike."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        match = _SHARED_LINE.match(lines[i])
        parts = match and [match[2].split(", "), match[3].split(", ")]
        defaults = match and match[4].split(", ")
        if not match or not len(parts[0]) == len(parts[1]) == len(defaults):
            out.append(lines[i])
            i += 1
            continue
        indent, end = match[1], i + 1
        while end < len(lines) and (
            not lines[end].strip() or lines[end].startswith(indent + " ")
        ):
            end += 1
        description = lines[i + 1 : end]
        while description and not description[-1].strip():
            end -= 1
            description.pop()
        for name, kind, default in zip(*parts, defaults, strict=True):
            out.append(f"{indent}{name} : {kind}, default={default}")
            out.extend(description)
        i = end
    return "\n".join(out)


def to_markdown(text: str) -> str:
    """The docstring ``text`` with Sphinx-only markup rewritten (see module)."""
    text = _ROLE.sub(_role, text)
    text = _CITATION.sub(r"\1[\2]", text)
    text = _VALUE_SET.sub(_value_set, text)
    return _split_shared(text)


class NumpydocToMarkdown(Extension):
    """Rewrite every loaded docstring with :func:`to_markdown`."""

    def on_object(self, *, obj: Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
