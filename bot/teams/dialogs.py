"""The forms as Teams dialogs (task modules): declare, resolve, edit, reject, survey.

Teams opens a dialog only from a card's `Action.Submit` whose data says `msteams.type = task/fetch`: the bot
answers that invoke with the form (an Adaptive Card of Input.* elements), and Teams sends what was filled in as
`task/submit`. So a form is reached through an *opener*: a small card with that button, sent as the answer to a
typed `crisis declare` / `crisis resolve`, or put in the clicker's view of the card whose Edit/Reject/Survey
button they pressed. What a valid answer is comes from bot/chat/forms.py and the core's checks; a refusal is shown
in the dialog above the form, the values kept. Metadata (which incident, which draft version) travels in the
submit button's data and is re-checked by the core like any other input.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlite_utils.db import NotFoundError

from bot.chat.buttons import number
from bot.chat.forms import DeclareAnswers, DeclareForm, DeclarePrefill, FieldErrors, declare_form, scenario_problem
from bot.chat.wording import Wording
from bot.errors import NotFound
from bot.ids import LEVELS
from bot.incidents.declare import DEFAULT_LEVEL, MAX_DESCRIPTION, MAX_TITLE
from bot.incidents.desk import Desk
from bot.incidents.drafts import MAX_REASON
from bot.incidents.lifecycle import MAX_TEXT
from bot.incidents.triage import MAX_REASON as TRIAGE_REASON
from bot.messages import limit_of
from bot.models import Draft, Incident, Triage
from bot.teams.render import CARD_TYPE, SCHEMA, VERSION, plain

KINDS = ("declare", "resolve", "edit", "reject", "survey", "dismiss")
TEXT_MAX = 2000  # the resolve and survey texts (as Slack's modals)
Values = dict[str, Any]


# ---- the opener ---------------------------------------------------------------------------------------------
def opener(kind: str, say: Wording, **what: Any) -> dict[str, Any]:
    """A card with the one button that opens the dialog `kind` (and, for a draft, one back to the draft)."""
    data: dict[str, Any] = {"msteams": {"type": "task/fetch"}, "dialog": kind, **_meta(kind, what)}
    actions: list[dict[str, Any]] = [
        {"type": "Action.Submit", "title": say(f"teams.open.{kind}"), "data": data, "style": "positive"}
    ]
    draft = what.get("draft")
    if isinstance(draft, Draft):
        actions.append(
            {
                "type": "Action.Execute",
                "title": say("modal.cancel"),
                "verb": "refresh",
                "data": {"value": f"draft:{draft.id}"},
            }
        )
    return _card([_text(plain(say(f"teams.opener.{kind}")))], actions)


def _meta(kind: str, what: dict[str, Any]) -> dict[str, Any]:
    incident, draft = what.get("incident"), what.get("draft")
    meta: dict[str, Any] = {}
    if isinstance(incident, Incident):
        meta["incident"] = incident.id
    if isinstance(draft, Draft):
        meta.update(draft=draft.id, version=draft.version)
    if kind == "resolve":
        meta["ask_authority"] = bool(what.get("ask_authority"))
    triage, prefill = what.get("triage"), what.get("prefill")
    if isinstance(triage, Triage):
        meta["triage"] = triage.id
    if isinstance(prefill, DeclarePrefill) and prefill.triage_id:
        meta["triage"] = prefill.triage_id
    return meta


# ---- the dialogs ------------------------------------------------------------------------------------------
def task(title: str, card: dict[str, Any]) -> dict[str, Any]:
    """A task/fetch or task/submit answer that shows `card` in the dialog."""
    return {
        "task": {
            "type": "continue",
            "value": {
                "title": title,
                "width": "medium",
                "height": "large",
                "card": {"contentType": CARD_TYPE, "content": card},
            },
        }
    }


def notice(text: str) -> dict[str, Any]:
    """A task answer that shows a short message in the dialog instead of a form."""
    return {"task": {"type": "message", "value": plain(text)}}


def form(
    desk: Desk, kind: str, say: Wording, meta: Values, values: Values | None = None, errors: FieldErrors | None = None
) -> dict[str, Any]:
    """The dialog of `kind`, filled with `values` and showing `errors` (a refused submit)."""
    values, errors = values or {}, errors or {}
    builders = {
        "declare": _declare,
        "resolve": _resolve,
        "edit": _edit,
        "reject": _reject,
        "survey": _survey,
        "dismiss": _dismiss,
    }
    body = builders[kind](desk, say, meta, values)
    problems = [_text(plain(text), color="Attention", weight="Bolder") for text in dict.fromkeys(errors.values())]
    submit = {"type": "Action.Submit", "title": say(f"modal.{_key(kind)}.submit"), "data": {"dialog": kind, **meta}}
    return task(say(f"modal.{_key(kind)}.title"), _card([*problems, *body], [submit]))


def _key(kind: str) -> str:
    return kind  # the dialogs use the Slack modals' wording: modal.<kind>.title/submit/…


def _declare(desk: Desk, say: Wording, meta: Values, values: Values) -> list[dict[str, Any]]:
    lang = say.language
    scenarios = [{"title": book.name.in_(lang), "value": sid} for sid, book in desk.playbooks.items()]
    levels = [{"title": say("modal.declare.level_option", level=n), "value": str(n)} for n in LEVELS]
    return [
        _choice("scenario", say("modal.declare.scenario"), scenarios, values.get("scenario"), required=True),
        _choice("level", say("modal.declare.level"), levels, values.get("level") or str(DEFAULT_LEVEL), required=True),
        _input(
            "title",
            say("modal.declare.title_label"),
            values,
            MAX_TITLE,
            placeholder=say("modal.declare.title_hint"),
            required=True,
        ),
        _input("description", say("modal.declare.description"), values, MAX_DESCRIPTION, multiline=True),
        _text(plain(say("modal.declare.detected")), weight="Bolder"),
        _text(plain(say("modal.declare.detected_hint")), isSubtle=True, size="Small"),
        {"type": "Input.Date", "id": "detected_date", **_value(values, "detected_date")},
        {"type": "Input.Time", "id": "detected_time", **_value(values, "detected_time")},
        # drills: the "This is a drill" choice
        {
            "type": "Input.Toggle",
            "id": "drill",
            "title": plain(say("exercise.form_option")),
            "valueOn": "true",
            "valueOff": "false",
            "value": "true" if values.get("drill") == "true" else "false",
        },
    ]


def _resolve(desk: Desk, say: Wording, meta: Values, values: Values) -> list[dict[str, Any]]:
    incident = desk.store.incident(number(meta.get("incident")))
    body = [
        _text(plain(say("modal.resolve.intro", code=incident.code))),
        _input("summary", say("modal.resolve.summary"), values, TEXT_MAX, multiline=True, required=True),
        _text(plain(say("modal.resolve.summary_hint")), isSubtle=True, size="Small"),
        _input("impact", say("modal.resolve.impact"), values, TEXT_MAX, multiline=True),
        _input("lessons", say("modal.resolve.lessons"), values, TEXT_MAX, multiline=True),
    ]
    if meta.get("ask_authority"):
        answers = [{"title": say(f"gdpr_duty.answer_{v}"), "value": v} for v in ("not_yet", "notified")]
        body += [
            _choice(
                "authority", say("gdpr_duty.question"), answers, values.get("authority") or "not_yet", expanded=True
            ),
            _text(plain(say("gdpr_duty.question_hint")), isSubtle=True, size="Small"),
            _text(plain(say("gdpr_duty.when")), weight="Bolder"),
            {"type": "Input.Date", "id": "authority_date", **_value(values, "authority_date")},
            {"type": "Input.Time", "id": "authority_time", **_value(values, "authority_time")},
        ]
    return body


def _edit(desk: Desk, say: Wording, meta: Values, values: Values) -> list[dict[str, Any]]:
    draft = draft_of(desk, meta.get("draft"))
    network, limit = say.network(draft.network), limit_of(draft.network)
    text = values if "text" in values else {"text": draft.text}
    return [
        _text(plain(say("modal.edit.intro", network=network, version=draft.version))),
        _input("text", say("modal.edit.label", limit=limit), text, limit, multiline=True, required=True),
        _text(plain(say("modal.edit.hint", network=network, limit=limit)), isSubtle=True, size="Small"),
        _text(plain(say("modal.edit.versions")), isSubtle=True, size="Small"),
    ]


def _reject(desk: Desk, say: Wording, meta: Values, values: Values) -> list[dict[str, Any]]:
    return [_input("reason", say("modal.reject.label"), values, MAX_REASON, multiline=True, required=True)]


def _dismiss(desk: Desk, say: Wording, meta: Values, values: Values) -> list[dict[str, Any]]:
    return [
        _input("reason", say("modal.dismiss.label"), values, TRIAGE_REASON, multiline=True, required=True),
        _text(plain(say("modal.dismiss.hint")), isSubtle=True, size="Small"),
    ]


def prefilled(prefill: DeclarePrefill, desk: Desk) -> Values:
    """The declare dialog's starting values from a triage card or a message (the detection in the company's zone)."""
    values: Values = {"title": prefill.title, "description": prefill.description}
    if prefill.scenario:
        values["scenario"] = prefill.scenario
    if prefill.level:
        values["level"] = str(prefill.level)
    if prefill.detected_at:
        local = prefill.detected_at.astimezone(desk.settings.tz)
        values["detected_date"], values["detected_time"] = local.date().isoformat(), local.strftime("%H:%M")
    return values


def _survey(desk: Desk, say: Wording, meta: Values, values: Values) -> list[dict[str, Any]]:
    incident = desk.store.incident(number(meta.get("incident")))
    scale = [{"title": say(f"modal.survey.scale.{n}"), "value": str(n)} for n in range(1, 6)]
    return [
        _text(plain(say("modal.survey.intro", code=incident.code))),
        _choice("q1", say("modal.survey.q1"), scale, values.get("q1"), required=True),
        _choice("q2", say("modal.survey.q2"), scale, values.get("q2"), required=True),
        _input("q3", say("modal.survey.q3"), values, min(TEXT_MAX, MAX_TEXT), multiline=True),
    ]


def draft_of(desk: Desk, ident: object) -> Draft:
    """The draft an id from a card or a dialog names; a malformed or unknown one is refused like a stale button."""
    try:
        return desk.store.draft(number(ident))
    except NotFoundError as exc:
        raise NotFound("error.not_found") from exc


# ---- reading a submit -----------------------------------------------------------------------------------------
def text(values: Values, field: str) -> str:
    value = values.get(field)
    return value if isinstance(value, str) else ""


def declared(values: Values, desk: Desk, say: Wording) -> tuple[DeclareForm | None, FieldErrors]:
    """The declare dialog's values, checked by bot/chat/forms.py's rules (an unknown scenario too)."""
    answers = DeclareAnswers(
        scenario=text(values, "scenario") or None,
        level=text(values, "level") or None,
        title=text(values, "title"),
        description=text(values, "description"),
        detected=moment(values, "detected", desk),
        drill=text(values, "drill") == "true",
    )
    parsed, errors = declare_form(answers, desk.now(), say)
    problem = scenario_problem(desk, parsed, say) if parsed is not None else {}
    return (None, problem) if problem else (parsed, errors)


def moment(values: Values, field: str, desk: Desk) -> datetime | None:
    """`<field>_date` and `<field>_time` (Teams' date and time inputs, no zone) in the company's time zone; a
    date without a time is its start, a malformed one counts as not given."""
    day, hour = text(values, f"{field}_date"), text(values, f"{field}_time")
    if not day:
        return None
    try:
        at = datetime.combine(date.fromisoformat(day), time.fromisoformat(hour) if hour else time())
    except ValueError:
        return None
    return at.replace(tzinfo=desk.settings.tz)


def meta_of(values: Values) -> Values:
    """The metadata the submit button carried (the core re-checks all of it)."""
    return {k: values[k] for k in ("incident", "draft", "version", "ask_authority", "triage") if k in values}


# ---- card parts -----------------------------------------------------------------------------------------------
def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": body, "actions": actions}


def _text(value: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": value or " ", "wrap": True, **style}


def _value(values: Values, field: str) -> dict[str, Any]:
    value = values.get(field)
    return {"value": value} if isinstance(value, str) and value else {}


def _input(
    field: str,
    label: str,
    values: Values,
    limit: int,
    *,
    multiline: bool = False,
    placeholder: str = "",
    required: bool = False,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "Input.Text",
        "id": field,
        "label": plain(label),
        "maxLength": limit,
        "isMultiline": multiline,
    }
    if placeholder:
        element["placeholder"] = plain(placeholder)
    if required:
        element.update(isRequired=True, errorMessage=plain(label))
    return {**element, **_value(values, field)}


def _choice(
    field: str, label: str, choices: list[dict[str, str]], value: Any, *, required: bool = False, expanded: bool = False
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "Input.ChoiceSet",
        "id": field,
        "label": plain(label),
        "choices": [{"title": plain(c["title"]), "value": c["value"]} for c in choices],
        "style": "expanded" if expanded else "compact",
    }
    if required:
        element.update(isRequired=True, errorMessage=plain(label))
    if isinstance(value, str) and value in {c["value"] for c in choices}:
        element["value"] = value
    return element
