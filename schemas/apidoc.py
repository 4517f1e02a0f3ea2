"""docs/API.md, rendered from the OpenAPI document the engine serves (schemas/openapi.json).

`python -m schemas.apidoc > docs/API.md` writes it; tests/unit/test_api_doc.py fails when
the two differ, so the reference in the repository is always the served contract.
"""

from __future__ import annotations

import html
import json
import re
import sys
from typing import Any

from schemas import OPENAPI_FILE

METHODS = ("get", "post", "put", "delete", "patch")


def render(doc: dict[str, Any]) -> str:
    """The Markdown reference of an OpenAPI document."""
    info = doc["info"]
    out = [
        f"# {info['title']} HTTP API (version {info['version']})",
        "",
        "<!-- Rendered from schemas/openapi.json by `python -m schemas.apidoc > docs/API.md`;"
        " edit the document, not this file (tests/unit/test_api_doc.py compares them). -->",
        "",
        "Every running process serves the same document at `GET /openapi.json`.",
        "",
        info.get("description", ""),
        "",
        "## Operations",
        "",
        "| method | path | summary |",
        "| --- | --- | --- |",
    ]
    operations = [
        (method, path, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if method in METHODS
    ]
    for method, path, op in operations:
        anchor = _anchor(method, path)
        out.append(f"| {method.upper()} | [`{path}`](#{anchor}) | {_cell(op.get('summary', ''))} |")
    for method, path, op in operations:
        out += ["", *_operation(method, path, op)]
    out += ["", "## Schemas"]
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        out += ["", *_schema(name, schema)]
    schemes = doc.get("components", {}).get("securitySchemes", {})
    if schemes:
        out += ["", "## Security", ""]
        for name, scheme in schemes.items():
            kind = scheme.get("scheme", scheme.get("type", ""))
            out.append(f"- `{name}` ({kind}): {scheme.get('description', '')}")
    return "\n".join(out).rstrip() + "\n"


def _anchor(method: str, path: str) -> str:
    text = f"{method} {path}".strip().lower()
    return "".join(ch for ch in text if ch.isalnum() or ch in " -_").replace(" ", "-")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _operation(method: str, path: str, op: dict[str, Any]) -> list[str]:
    out = [f"### {method.upper()} {path}", ""]
    if op.get("summary"):
        out += [f"**{op['summary']}**", ""]
    if op.get("description"):
        out += [op["description"], ""]
    params = op.get("parameters", [])
    if params:
        out += ["Parameters:", ""]
        for p in params:
            required = ", required" if p.get("required") else ""
            kind = _type(p.get("schema", {}))
            note = f": {_cell(p['description'])}" if p.get("description") else ""
            out.append(f"- `{p['name']}` ({p['in']}, {kind}{required}){note}")
        out.append("")
    body = op.get("requestBody")
    if body:
        content: dict[str, Any] = body.get("content", {})
        kinds = ", ".join(f"`{c}`" for c in content)
        out += [f"Request body ({kinds}): {_type(_first_schema(content))}", ""]
        out += _example("Example request", content)
    for status, answer in op.get("responses", {}).items():
        if status.startswith("2"):
            out += _example(f"Example answer ({status})", answer.get("content", {}))
    out += ["Responses:", ""]
    for status, answer in op.get("responses", {}).items():
        schema = _first_schema(answer.get("content", {}))
        shape = f" {_type(schema)}" if schema else ""
        out.append(f"- `{status}`{shape}: {_cell(answer.get('description', ''))}")
        for header, about in answer.get("headers", {}).items():
            out.append(f"  - header `{header}`: {_cell(about.get('description', ''))}")
    return out


def _example(title: str, content: dict[str, Any]) -> list[str]:
    """A media type's example as a fenced block (JSON indented), or nothing."""
    for media, about in content.items():
        if "example" not in about:
            continue
        example = about["example"]
        if isinstance(example, str):
            text, kind = example.rstrip("\n"), "text"
        else:
            text, kind = json.dumps(example, ensure_ascii=False, indent=2), "json"
        return [f"{title} (`{media}`):", "", f"```{kind}", *text.split("\n"), "```", ""]
    return []


def _first_schema(content: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of a body's first media type (every type of a body has the same one)."""
    for media in content.values():
        schema: dict[str, Any] | None = media.get("schema")
        return schema
    return None


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    out = [f"### {name}", ""]
    if schema.get("description"):
        out += [schema["description"], ""]
    props = schema.get("properties")
    if not props:
        return [*out, f"{_type(schema)}"]
    required = set(schema.get("required", ()))
    out += ["| field | type | required | description |", "| --- | --- | --- | --- |"]
    for field, about in props.items():
        mark = "yes" if field in required else ""
        about_text = _cell(about.get("description", ""))
        out.append(f"| `{field}` | {_cell(_type(about))} | {mark} | {about_text} |")
    return out


def _type(schema: dict[str, Any] | None) -> str:
    """A schema in a few words: a reference's name, an array's items, a string's limits."""
    if not schema:
        return "any"
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    for combinator in ("oneOf", "anyOf", "allOf"):
        if combinator in schema:
            joiner = " and " if combinator == "allOf" else " or "
            return joiner.join(_type(s) for s in schema[combinator])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        return f"array of {_type(schema.get('items'))}"
    limits = []
    if "enum" in schema:
        limits.append("one of " + ", ".join(f"`{v}`" for v in schema["enum"]))
    for key, word in (("minimum", "min"), ("maximum", "max"), ("minLength", "min length")):
        if key in schema:
            limits.append(f"{word} {schema[key]}")
    if "maxLength" in schema:
        limits.append(f"max length {schema['maxLength']}")
    if "pattern" in schema:
        limits.append(f"pattern `{schema['pattern']}`")
    return f"{kind} ({'; '.join(limits)})" if limits else str(kind)


_INLINE = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|\[([^\]]+)\]\((#[^)\s]*)\)")
PAGE_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem}"
    "code{background:#f3f3f3;padding:0 .2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.2em .5em;vertical-align:top}h3{margin-top:2rem}"
    "pre{background:#f6f6f6;padding:.5em;overflow-x:auto}"
)


def _inline(text: str) -> str:
    """Markdown's inline code, bold and in-page links of render()'s output, as HTML."""
    out, last = [], 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[last : m.start()]))
        code, bold, label, href = m.groups()
        if code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif bold is not None:
            out.append(f"<strong>{_inline(bold)}</strong>")
        else:
            out.append(f'<a href="{html.escape(href)}">{_inline(label)}</a>')
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def _row(tag: str, cells: list[str]) -> str:
    unescaped = (c.replace(ESCAPED_BAR, "|") for c in cells)
    return "<tr>" + "".join(f"<{tag}>{_inline(c)}</{tag}>" for c in unescaped) + "</tr>"


ESCAPED_BAR = "\\|"


def render_html(doc: dict[str, Any]) -> str:
    """The reference as one HTML page with no outside assets (GET /docs): render()'s
    Markdown, whose few forms (headings, tables, lists, paragraphs) map one to one."""
    body: list[str] = []
    lines = render(doc).splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            block = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                block.append(lines[i])
                i += 1
            body.append("<pre><code>" + html.escape("\n".join(block)) + "</code></pre>")
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            title = line[level:].strip()
            anchor = _anchor(*title.split(" ", 1)) if level == 3 and " " in title else ""
            ident = f' id="{anchor or _anchor(title, "")}"'
            body.append(f"<h{level}{ident}>{_inline(title)}</h{level}>")
        elif line.startswith("| "):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not set(lines[i]) <= set("|- "):
                    cells = [c.strip() for c in re.split(r"(?<!\\)\|", lines[i])[1:-1]]
                    rows.append(cells)
                i += 1
            head, *rest = rows
            body.append("<table>" + _row("th", head))
            body += [_row("td", cells) for cells in rest]
            body.append("</table>")
            continue
        elif line.startswith(("- ", "  - ")):
            items = []
            while i < len(lines) and lines[i].startswith(("- ", "  - ")):
                items.append(f"<li>{_inline(lines[i].strip()[2:])}</li>")
                i += 1
            body.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line.startswith("<!--") or not line.strip():
            pass
        else:
            body.append(f"<p>{_inline(line)}</p>")
        i += 1
    title = html.escape(f"{doc['info']['title']} HTTP API")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{PAGE_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def main() -> None:
    sys.stdout.write(render(json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))))


if __name__ == "__main__":
    main()
