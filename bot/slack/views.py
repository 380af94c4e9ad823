"""Modals: declare, edit, reject, resolve, survey. Block Kit builders, and the values read out of a submission
(what they may be is bot/chat/forms.py's to say)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    CheckboxesElement,
    ContextBlock,
    DateTimePickerElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.chat.forms import (
    DeclareAnswers,
    DeclareForm,
    DeclarePrefill,
    FieldErrors,
    authority_answer,
    declare_form,
)
from bot.chat.wording import Wording
from bot.ids import LEVELS
from bot.incidents import gdpr
from bot.incidents.declare import DEFAULT_LEVEL, MAX_DESCRIPTION, MAX_TITLE
from bot.incidents.desk import Desk
from bot.incidents.drafts import MAX_REASON
from bot.incidents.triage import MAX_REASON as TRIAGE_REASON
from bot.messages import limit_of
from bot.models import Draft, Triage

SLACK_INPUT_MAX = 3000  # plain_text_input's own ceiling, below Facebook's 63,206


def _pt(text: str) -> PlainTextObject:
    return PlainTextObject(text=text)


def declare_modal(
    desk: Desk, say: Wording, channel_id: str | None, prefill: DeclarePrefill | None = None
) -> dict[str, Any]:
    """The declare form; `prefill` (a triage card, a message) fills it in, the declarer may change every field."""
    lang = say.language
    start = prefill or DeclarePrefill()
    scenarios = [Option(value=sid, text=_pt(book.name.in_(lang)[:75])) for sid, book in desk.playbooks.items()]
    levels = [Option(value=str(n), text=_pt(say("modal.declare.level_option", level=n))) for n in LEVELS]
    chosen = next((o for o in scenarios if o.value == start.scenario), None)
    meta = {"channel": channel_id} | ({"triage": start.triage_id} if start.triage_id else {})
    view = View(
        type="modal",
        callback_id="declare",
        title=_pt(say("modal.declare.title")[:24]),
        submit=_pt(say("modal.declare.submit")[:24]),
        close=_pt(say("modal.cancel")[:24]),
        private_metadata=json.dumps(meta),
        blocks=[
            InputBlock(
                block_id="scenario",
                label=_pt(say("modal.declare.scenario")),
                element=StaticSelectElement(action_id="value", options=scenarios, initial_option=chosen),
            ),
            InputBlock(
                block_id="level",
                label=_pt(say("modal.declare.level")),
                element=StaticSelectElement(
                    action_id="value", options=levels, initial_option=levels[(start.level or DEFAULT_LEVEL) - 1]
                ),
            ),
            InputBlock(
                block_id="title",
                label=_pt(say("modal.declare.title_label")),
                element=PlainTextInputElement(
                    action_id="value",
                    max_length=MAX_TITLE,
                    placeholder=_pt(say("modal.declare.title_hint")),
                    initial_value=start.title[:MAX_TITLE] or None,
                ),
            ),
            InputBlock(
                block_id="description",
                label=_pt(say("modal.declare.description")),
                optional=True,
                element=PlainTextInputElement(
                    action_id="value",
                    multiline=True,
                    max_length=MAX_DESCRIPTION,
                    initial_value=start.description[:MAX_DESCRIPTION] or None,
                ),
            ),
            InputBlock(
                block_id="detected",
                label=_pt(say("modal.declare.detected")),
                optional=True,
                hint=_pt(say("modal.declare.detected_hint")),
                element=DateTimePickerElement(
                    action_id="value",
                    initial_date_time=int(start.detected_at.timestamp()) if start.detected_at else None,
                ),
            ),
            _tick_box("private", say("modal.declare.private_label"), say("modal.declare.private")),
            _tick_box("drill", say("exercise.form_label"), say("exercise.form_option")),  # drills: "This is a drill"
        ],
    )
    return view.to_dict()


def _tick_box(field: str, label: str, option: str) -> InputBlock:
    """An optional yes/no field: one checkbox whose value is the field's name."""
    return InputBlock(
        block_id=field,
        label=_pt(label),
        optional=True,
        element=CheckboxesElement(action_id="value", options=[Option(value=field, text=_pt(option))]),
    )


def parse_declare(values: dict[str, Any], now: datetime, say: Wording) -> tuple[DeclareForm | None, FieldErrors]:
    """The declare modal's values, or field errors to show in the modal (checked in bot/chat/forms.py)."""
    answers = DeclareAnswers(
        scenario=_selected(values, "scenario"),
        level=_selected(values, "level"),
        title=_text(values, "title"),
        description=_text(values, "description"),
        detected=_datetime(values, "detected"),
        private=bool(_value(values, "private").get("selected_options")),
        drill=bool(_value(values, "drill").get("selected_options")),
    )
    return declare_form(answers, now, say)


def edit_modal(draft: Draft, say: Wording) -> dict[str, Any]:
    limit = limit_of(draft.network)
    view = View(
        type="modal",
        callback_id="draft_edit",
        title=_pt(say("modal.edit.title")[:24]),
        submit=_pt(say("modal.edit.submit")[:24]),
        close=_pt(say("modal.cancel")[:24]),
        private_metadata=json.dumps({"draft": draft.id, "version": draft.version}),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=say("modal.edit.intro", network=say.network(draft.network), version=draft.version)
                )
            ),
            InputBlock(
                block_id="text",
                label=_pt(say("modal.edit.label", limit=limit)),
                hint=_pt(say("modal.edit.hint", network=say.network(draft.network), limit=limit)),
                element=PlainTextInputElement(
                    action_id="value",
                    multiline=True,
                    initial_value=draft.text[:SLACK_INPUT_MAX],
                    max_length=_typed_max(draft.network, limit),
                ),
            ),
            ContextBlock(elements=[MarkdownTextObject(text=say("modal.edit.versions"))]),
        ],
    )
    return view.to_dict()


def _typed_max(network: str, limit: int) -> int:
    """What Slack lets people type: X counts every link as 23, so a post with a long link types longer."""
    return SLACK_INPUT_MAX if network == "x" else min(SLACK_INPUT_MAX, max(limit, 1))


def reject_modal(draft: Draft, say: Wording) -> dict[str, Any]:
    view = View(
        type="modal",
        callback_id="draft_reject",
        title=_pt(say("modal.reject.title")[:24]),
        submit=_pt(say("modal.reject.submit")[:24]),
        close=_pt(say("modal.cancel")[:24]),
        private_metadata=json.dumps({"draft": draft.id, "version": draft.version}),
        blocks=[
            InputBlock(
                block_id="reason",
                label=_pt(say("modal.reject.label")),
                element=PlainTextInputElement(action_id="value", multiline=True, max_length=MAX_REASON),
            )
        ],
    )
    return view.to_dict()


def dismiss_modal(triage: Triage, say: Wording) -> dict[str, Any]:
    """Why a triage card is dismissed: kept for the evaluation of false alarms."""
    view = View(
        type="modal",
        callback_id="triage_dismiss",
        title=_pt(say("modal.dismiss.title")[:24]),
        submit=_pt(say("modal.dismiss.submit")[:24]),
        close=_pt(say("modal.cancel")[:24]),
        private_metadata=json.dumps({"triage": triage.id}),
        blocks=[
            InputBlock(
                block_id="reason",
                label=_pt(say("modal.dismiss.label")),
                hint=_pt(say("modal.dismiss.hint")),
                element=PlainTextInputElement(action_id="value", multiline=True, max_length=TRIAGE_REASON),
            )
        ],
    )
    return view.to_dict()


def metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _value(values: Any, block: str) -> dict[str, Any]:
    """One input's state; {} for anything Slack would not send (the caller then sees no value)."""
    entry = values.get(block) if isinstance(values, dict) else None
    found = entry.get("value") if isinstance(entry, dict) else None
    return found if isinstance(found, dict) else {}


def _text(values: dict[str, Any], block: str) -> str | None:
    value = _value(values, block).get("value")
    return value if isinstance(value, str) else None


def _selected(values: dict[str, Any], block: str) -> str | None:
    option = _value(values, block).get("selected_option") or {}
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) else None


def _datetime(values: dict[str, Any], block: str) -> datetime | None:
    stamp = _value(values, block).get("selected_date_time")
    try:
        return datetime.fromtimestamp(int(stamp), UTC) if isinstance(stamp, int | float) else None
    except (OverflowError, OSError, ValueError):  # not a time Slack's picker can send
        return None


def text_of(values: dict[str, Any], block: str) -> str:
    return _text(values, block) or ""


def resolve_modal(incident_id: int, code: str, say: Wording, ask_authority: bool = False) -> dict[str, Any]:
    """Summary, impact and first lessons: the start of the evaluation; for an open GDPR duty, its state."""
    view = View(
        type="modal",
        callback_id="resolve",
        title=_pt(say("modal.resolve.title")[:24]),
        submit=_pt(say("modal.resolve.submit")[:24]),
        close=_pt(say("modal.cancel")[:24]),
        private_metadata=json.dumps({"incident": incident_id}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=say("modal.resolve.intro", code=code))),
            InputBlock(
                block_id="summary",
                label=_pt(say("modal.resolve.summary")),
                hint=_pt(say("modal.resolve.summary_hint")),
                element=PlainTextInputElement(action_id="value", multiline=True, max_length=2000),
            ),
            InputBlock(
                block_id="impact",
                label=_pt(say("modal.resolve.impact")),
                optional=True,
                element=PlainTextInputElement(action_id="value", multiline=True, max_length=2000),
            ),
            InputBlock(
                block_id="lessons",
                label=_pt(say("modal.resolve.lessons")),
                optional=True,
                element=PlainTextInputElement(action_id="value", multiline=True, max_length=2000),
            ),
            *(_authority_blocks(say) if ask_authority else []),
        ],
    )
    return view.to_dict()


def _authority_blocks(say: Wording) -> list[InputBlock]:
    """Was the data-protection authority notified? "Not yet" is preselected: a duty is never closed by default."""
    options = [Option(value=v, text=_pt(say(f"gdpr_duty.answer_{v}"))) for v in ("not_yet", "notified")]
    return [
        InputBlock(
            block_id="authority",
            label=_pt(say("gdpr_duty.question")),
            hint=_pt(say("gdpr_duty.question_hint")),
            element=RadioButtonsElement(action_id="value", options=options, initial_option=options[0]),
        ),
        InputBlock(
            block_id="authority_at",
            label=_pt(say("gdpr_duty.when")),
            optional=True,
            element=DateTimePickerElement(action_id="value"),
        ),
    ]


def parse_authority(values: dict[str, Any], now: datetime, say: Wording) -> tuple[gdpr.Answer | None, FieldErrors]:
    """The resolve modal's GDPR answer (None when it did not ask), or field errors (checked in bot/chat/forms.py)."""
    return authority_answer(_selected(values, "authority"), _datetime(values, "authority_at"), now, say)


def survey_modal(incident_id: int, code: str, say: Wording) -> dict[str, Any]:
    """Three questions after the incident: two scores and one open answer."""
    scale = [Option(value=str(n), text=_pt(say(f"modal.survey.scale.{n}"))) for n in range(1, 6)]
    view = View(
        type="modal",
        callback_id="survey",
        title=_pt(say("modal.survey.title")[:24]),
        submit=_pt(say("modal.survey.submit")[:24]),
        close=_pt(say("modal.cancel")[:24]),
        private_metadata=json.dumps({"incident": incident_id}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=say("modal.survey.intro", code=code))),
            InputBlock(
                block_id="q1",
                label=_pt(say("modal.survey.q1")),
                element=StaticSelectElement(action_id="value", options=scale),
            ),
            InputBlock(
                block_id="q2",
                label=_pt(say("modal.survey.q2")),
                element=StaticSelectElement(action_id="value", options=scale),
            ),
            InputBlock(
                block_id="q3",
                label=_pt(say("modal.survey.q3")),
                optional=True,
                element=PlainTextInputElement(action_id="value", multiline=True, max_length=2000),
            ),
        ],
    )
    return view.to_dict()


def selected_of(values: dict[str, Any], block: str) -> str:
    return _selected(values, block) or ""
