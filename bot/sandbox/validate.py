"""Block Kit checks Slack performs on messages and views, reported in Slack's own error format.

Each function returns a list of problems such as
``"[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"``; an empty list
means Slack would accept the payload.  Checks combine slack_sdk's model validation with the
documented limits the SDK does not enforce (empty texts, duplicate ids, per-surface block counts).
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT = 40_000

_MESSAGE_BLOCKS = {
    "section",
    "divider",
    "image",
    "actions",
    "context",
    "header",
    "input",
    "rich_text",
    "file",
    "video",
    "markdown",
}
_VIEW_BLOCKS = _MESSAGE_BLOCKS - {"file"}
_SELECTS = {
    "static_select",
    "multi_static_select",
    "external_select",
    "multi_external_select",
    "users_select",
    "multi_users_select",
    "conversations_select",
    "multi_conversations_select",
    "channels_select",
    "multi_channels_select",
}
_INTERACTIVE = _SELECTS | {
    "button",
    "overflow",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "checkboxes",
    "radio_buttons",
    "plain_text_input",
    "email_text_input",
    "number_input",
    "url_text_input",
    "rich_text_input",
    "file_input",
    "workflow_button",
}


def _err(message: str, pointer: str) -> str:
    return f"[ERROR] {message} [json-pointer:{pointer}]"


class _Checker:
    """Collects problems while walking one payload."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, message: str, pointer: str) -> None:
        self.problems.append(_err(message, pointer))

    def max_len(self, value: Any, limit: int, pointer: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(f"must be less than {limit + 1} characters", pointer)

    def text_obj(self, obj: Any, pointer: str, *, limit: int, plain_only: bool = False, required: bool = True) -> None:
        """Check a composition text object: type, non-empty text, length."""
        if obj is None:
            if required:
                self.add("missing required field: text", pointer)
            return
        if not isinstance(obj, dict):
            self.add("must be an object", pointer)
            return
        kind = obj.get("type")
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if kind not in allowed:
            self.add(f"must be one of {', '.join(allowed)}", f"{pointer}/type")
        text = obj.get("text")
        if not isinstance(text, str):
            self.add("missing required field: text", f"{pointer}/text")
        elif not text:
            # Slack rejects empty texts even though slack_sdk lets them through.
            self.add("must be more than 0 characters", f"{pointer}/text")
        else:
            self.max_len(text, limit, f"{pointer}/text")

    def element(self, el: Any, pointer: str, action_ids: set[str]) -> None:
        """Check an interactive element (or image/text inside context and accessories)."""
        if not isinstance(el, dict):
            self.add("must be an object", pointer)
            return
        kind = el.get("type")
        action_id = el.get("action_id")
        if kind in _INTERACTIVE and action_id is not None:
            if not isinstance(action_id, str) or not action_id:
                self.add("must be a non-empty string", f"{pointer}/action_id")
            else:
                self.max_len(action_id, 255, f"{pointer}/action_id")
                if action_id in action_ids:
                    self.add(f"duplicate action_id: {action_id}", f"{pointer}/action_id")
                action_ids.add(action_id)
        if kind == "button":
            self.text_obj(el.get("text"), f"{pointer}/text", limit=75, plain_only=True)
            self.max_len(el.get("value"), 2000, f"{pointer}/value")
            self.max_len(el.get("url"), 3000, f"{pointer}/url")
            if el.get("style") not in (None, "primary", "danger"):
                self.add("must be one of primary, danger", f"{pointer}/style")
        elif kind in _SELECTS or kind in ("overflow", "checkboxes", "radio_buttons"):
            self._options(el, pointer)
        elif kind == "plain_text_input":
            for key in ("max_length", "min_length"):
                if isinstance(el.get(key), int) and el[key] > 3000:
                    self.add("must be less than or equal to 3000", f"{pointer}/{key}")
        elif kind == "image":
            self.max_len(el.get("image_url"), 3000, f"{pointer}/image_url")
            if not el.get("alt_text"):
                self.add("missing required field: alt_text", f"{pointer}/alt_text")
        elif kind in ("plain_text", "mrkdwn"):
            self.text_obj(el, pointer, limit=3000)
        elif kind not in _INTERACTIVE:
            self.add(f"unsupported type: {kind}", f"{pointer}/type")
        if "placeholder" in el:
            self.text_obj(el["placeholder"], f"{pointer}/placeholder", limit=150, plain_only=True)
        if "confirm" in el:
            self._confirm(el["confirm"], f"{pointer}/confirm")

    def _options(self, el: dict[str, Any], pointer: str) -> None:
        options = el.get("options")
        limit = 5 if el.get("type") == "overflow" else 100
        if isinstance(options, list):
            if len(options) > limit:
                self.add(f"must provide at most {limit} items", f"{pointer}/options")
            for i, opt in enumerate(options):
                p = f"{pointer}/options/{i}"
                if not isinstance(opt, dict):
                    self.add("must be an object", p)
                    continue
                self.text_obj(opt.get("text"), f"{p}/text", limit=75)
                self.max_len(opt.get("value"), 150, f"{p}/value")
            initial = el.get("initial_option")
            values = [o.get("value") for o in options if isinstance(o, dict)]
            if isinstance(initial, dict) and initial.get("value") not in values:
                self.add("must match one of the options", f"{pointer}/initial_option")

    def _confirm(self, confirm: Any, pointer: str) -> None:
        if not isinstance(confirm, dict):
            self.add("must be an object", pointer)
            return
        self.text_obj(confirm.get("title"), f"{pointer}/title", limit=100, plain_only=True)
        self.text_obj(confirm.get("text"), f"{pointer}/text", limit=300)
        self.text_obj(confirm.get("confirm"), f"{pointer}/confirm", limit=30, plain_only=True)
        self.text_obj(confirm.get("deny"), f"{pointer}/deny", limit=30, plain_only=True)

    def block(self, block: dict[str, Any], pointer: str) -> None:
        """Check the documented per-type limits of one block."""
        kind = block.get("type")
        action_ids: set[str] = set()
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.add("must provide either text or fields", pointer)
            if "text" in block:
                self.text_obj(block["text"], f"{pointer}/text", limit=3000)
            fields = block.get("fields")
            if fields is not None:
                if not isinstance(fields, list) or not fields:
                    self.add("must provide at least 1 item", f"{pointer}/fields")
                else:
                    if len(fields) > 10:
                        self.add("must provide at most 10 items", f"{pointer}/fields")
                    for i, f in enumerate(fields):
                        self.text_obj(f, f"{pointer}/fields/{i}", limit=2000)
            if "accessory" in block:
                self.element(block["accessory"], f"{pointer}/accessory", action_ids)
        elif kind == "header":
            self.text_obj(block.get("text"), f"{pointer}/text", limit=150, plain_only=True)
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                self.add("must provide at least 1 item", f"{pointer}/elements")
            else:
                if len(elements) > 10:
                    self.add("must provide at most 10 items", f"{pointer}/elements")
                for i, el in enumerate(elements):
                    self.element(el, f"{pointer}/elements/{i}", action_ids)
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                self.add("must provide at least 1 item", f"{pointer}/elements")
            else:
                if len(elements) > 25:
                    self.add("must provide at most 25 items", f"{pointer}/elements")
                for i, el in enumerate(elements):
                    self.element(el, f"{pointer}/elements/{i}", action_ids)
        elif kind == "input":
            self.text_obj(block.get("label"), f"{pointer}/label", limit=2000, plain_only=True)
            if "hint" in block:
                self.text_obj(block["hint"], f"{pointer}/hint", limit=2000, plain_only=True)
            if "element" not in block:
                self.add("missing required field: element", f"{pointer}/element")
            else:
                self.element(block["element"], f"{pointer}/element", action_ids)
        elif kind == "image":
            self.max_len(block.get("image_url"), 3000, f"{pointer}/image_url")
            self.max_len(block.get("alt_text"), 2000, f"{pointer}/alt_text")
            if "title" in block:
                self.text_obj(block["title"], f"{pointer}/title", limit=2000, plain_only=True)
        elif kind == "markdown":
            self.max_len(block.get("text"), 12000, f"{pointer}/text")


def _sdk_problems(block: dict[str, Any], pointer: str) -> list[str]:
    """Ask slack_sdk's models to parse and validate the block (catches what we do not check)."""
    try:
        parsed = Block.parse(block)
        if parsed is not None:
            parsed.validate_json()
    except SlackObjectFormationError as exc:
        return [_err(str(exc), pointer)]
    except Warning:
        # A deprecation warning turned into an error by a test's warning filter is not Slack's concern.
        return []
    except Exception as exc:  # malformed shapes make the SDK's constructors raise arbitrary errors
        return [_err(f"invalid block: {exc}", pointer)]
    return []


def validate_blocks(blocks: Any, *, max_blocks: int, pointer: str = "/blocks", view: bool = False) -> list[str]:
    """Check a list of blocks for one surface (message: ≤ 50 blocks; modal/home: ≤ 100)."""
    if blocks is None:
        return []
    if not isinstance(blocks, list):
        return [_err("must be an array", pointer)]
    checker = _Checker()
    if len(blocks) > max_blocks:
        checker.add(f"must provide at most {max_blocks} items", pointer)
    allowed = _VIEW_BLOCKS if view else _MESSAGE_BLOCKS
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        p = f"{pointer}/{i}"
        if not isinstance(block, dict):
            checker.add("must be an object", p)
            continue
        kind = block.get("type")
        if kind is None:
            checker.add("missing required field: type", p)
            continue
        if kind not in allowed:
            checker.add(f"unsupported type: {kind}", f"{p}/type")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id:
                checker.add("must be a non-empty string", f"{p}/block_id")
            else:
                checker.max_len(block_id, 255, f"{p}/block_id")
                if block_id in block_ids:
                    checker.add(f"duplicate block_id: {block_id}", f"{p}/block_id")
                block_ids.add(block_id)
        before = len(checker.problems)
        checker.block(block, p)
        if len(checker.problems) == before:
            # Only consult the SDK when our own checks passed, so one mistake is reported once.
            checker.problems.extend(_sdk_problems(block, p))
    return checker.problems


def validate_message_blocks(blocks: Any) -> list[str]:
    """Return the problems Slack would report for a message's `blocks` (empty when valid)."""
    return validate_blocks(blocks, max_blocks=MAX_MESSAGE_BLOCKS)


def validate_message_text(text: Any) -> list[str]:
    """Return problems with a message's top-level `text` (Slack answers msg_too_long past 40,000)."""
    if text is not None and not isinstance(text, str):
        return [_err("must be a string", "/text")]
    if isinstance(text, str) and len(text) > MAX_TEXT:
        return [_err(f"must be less than {MAX_TEXT + 1} characters", "/text")]
    return []


def validate_view(view: Any) -> list[str]:
    """Return the problems Slack would report for a modal or home view (empty when valid)."""
    if not isinstance(view, dict):
        return [_err("must be an object", "/view")]
    checker = _Checker()
    kind = view.get("type")
    if kind not in ("modal", "home"):
        checker.add("must be one of modal, home", "/view/type")
    if kind == "modal":
        checker.text_obj(view.get("title"), "/view/title", limit=24, plain_only=True)
    elif "title" in view:
        checker.text_obj(view["title"], "/view/title", limit=24, plain_only=True)
    for key in ("submit", "close"):
        if view.get(key) is not None:
            checker.text_obj(view[key], f"/view/{key}", limit=24, plain_only=True)
    for key, limit in (("callback_id", 255), ("private_metadata", 3000), ("external_id", 255)):
        value = view.get(key)
        if value is not None and not isinstance(value, str):
            checker.add("must be a string", f"/view/{key}")
        checker.max_len(value, limit, f"/view/{key}")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        checker.add("missing required field: blocks", "/view/blocks")
        return checker.problems
    has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
    if kind == "modal" and has_input and not view.get("submit"):
        checker.add("must provide a submit property when using input blocks", "/view")
    return checker.problems + validate_blocks(blocks, max_blocks=MAX_VIEW_BLOCKS, pointer="/view/blocks", view=True)
