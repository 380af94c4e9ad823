"""The one Jinja2 sandbox every template renders in: public drafts, UI strings, the Home tab, plan and report.

Every template here may be edited by a comms lead, so all of them get the same rules: Jinja2's
`SandboxedEnvironment` (a template cannot reach into Python) with `StrictUndefined` (a misspelt variable
is an error, never a silently empty hole), and no HTML autoescaping (the output is plain text, Markdown or
a chat platform's markup, never HTML; escaping for a platform is `finalize`'s job).

Only the whitespace rules differ, by the shape of the source:
- `"document"` (a draft, the plan, the report: files of many lines): `trim_blocks` and `lstrip_blocks`,
  so a `{% if %}` on a line of its own leaves neither a blank line nor its indentation behind;
- `"line"` (ui.yaml and home.yaml strings: one-liners): no trimming, a newline after a tag is meant.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any, Literal

from jinja2 import BaseLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

Shape = Literal["document", "line"]


class _Sandbox(SandboxedEnvironment):
    """Jinja2's sandbox whose templates keep their globals in a plain dict.

    Jinja2 chains a template's globals to the environment's (a ChainMap) and copies them into a new dict at every
    render: iterating the chain is Python code, ~12 µs of a one-line UI string's ~19 (measured), and a Teams
    declare renders some hundred of them, twenty before its first Connector call. Our environments get their
    globals when they are made, before any template is loaded (Jinja2's own documentation says not to change them
    after), so a template's snapshot of them is the same mapping.
    """

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return {**self.globals, **(d or {})}


def sandbox(
    shape: Shape, loader: BaseLoader | None = None, finalize: Callable[[Any], Any] | None = None
) -> SandboxedEnvironment:
    """A sandboxed environment for templates of `shape`; `finalize` sees every `{{ value }}` before it is printed."""
    document = shape == "document"
    return _Sandbox(
        loader=loader,
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=document,
        lstrip_blocks=document,
        finalize=finalize,
    )
