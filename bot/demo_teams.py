"""`crisisbot demo --platform teams`: the data-breach story in Microsoft Teams terms, against the Bot Connector emulator.

Every step is a real signed activity into the real Teams app (`bot.teams.server.build`, the `crisisbot serve` code
path, over HTTP: the SDK's JWT check, its CloudAdapter) and every effect a real Bot Connector call into the
emulator, which validates every card against the Adaptive Cards 1.5 schema and Teams' caps. The story: a command
typed to the bot in the crisis channel starts the incident's thread (the header card is its root), the owners are
@mentioned there and paged in their 1:1 chat with the bot, the drafts show their decisions only to whoever may
take them (user-specific views), one owner does not acknowledge and is chased, the forms are dialogs. The
transcript is condensed like the Slack demo's (bot/sandbox/teams_transcript.py).
"""

from __future__ import annotations

import dataclasses
import time
import urllib.request
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from bot.demo import Story
from bot.localteams import LocalTeamsDesk
from bot.models import Incident
from bot.sandbox.teams import Event, response_card, task_card
from bot.sandbox.teams.people import execute_actions
from bot.sandbox.teams.transcript import WORDS, Condenser, card_lines

NOTICE = "application/vnd.microsoft.activity.message"  # an invoke answered with a text, not a card
# What the cast does is narrated by the demo itself ("@anna clicks Acknowledge"): not repeated from the emulator.
NARRATED = ("user_message", "card_action", "task_opened", "task_submitted")
DEMO_WORDS = ("sees", "no_buttons", "notice")  # the demo's own transcript words beside the emulator's


class TeamsDemoScript(Story):
    def __init__(self, local: LocalTeamsDesk, console: Console, language: str, speed: float) -> None:
        super().__init__(local.desk, local.cast, console, language, speed)
        self.local, self.emu, self.people = local, local.emulator, local.people
        self.seen = 0
        self.words = {key: self.say(f"transcript.{key}") for key in (*WORDS, *DEMO_WORDS)}
        self.condenser = Condenser(words={key: self.words[key] for key in WORDS})
        self.whole: set[str] = set()  # header cards already shown in full once
        self.checks: dict[str, bool] = {}  # what the story must show, by name (all must hold for exit 0)
        self.waited: set[str] = set()  # the bot's posts a wait_for_post already found

    # ---- narration -----------------------------------------------------------------------------
    def where(self, event: Event) -> str:
        """A conversation as a person names it: an incident's thread by its code, a 1:1 chat by the person."""
        conversation = event.conversation_id or ""
        for incident in self.desk.store.incidents():
            if incident.room_ref == conversation:
                return f"#crisis › {incident.code}"
        label = event.conversation or "?"
        return label.split(" › ")[0] if label.startswith("#") else label

    def show_new(self) -> None:
        """Print what appeared in Teams since the last step, condensed; a thread's root shown whole the first time
        it is the incident's header card (posted as the root, or a root the header replaced)."""
        self.local.settle()
        headers = {self.desk.store.delivery(f"{i.id}:header") or "" for i in self.desk.store.incidents()}
        events = self.emu.events[self.seen :]
        self.seen += len(events)
        batch: list[Event] = []
        for event in events:
            if event.kind in NARRATED:
                continue
            # a card message's text is its notification summary, which Teams does not show in the conversation
            text = "" if event.cards else event.text
            named = dataclasses.replace(event, conversation=self.where(event), text=text)
            if event.kind in ("thread_started", "message_updated") and event.activity_id in headers - self.whole:
                self.whole.add(event.activity_id or "")
                self._print(batch)
                batch = []
                posted = "message_posted" if event.kind == "message_updated" else event.kind
                self.console.print(self.condenser.full(dataclasses.replace(named, kind=posted)))
            else:
                batch.append(named)
        self._print(batch)

    def _print(self, events: list[Event]) -> None:
        for rendered in self.condenser.render(events):
            self.console.print(rendered)

    def acts(self, who: str, key: str, **params: Any) -> None:
        self.console.print(f"[bold magenta]@{who}[/] " + self.say(key, **params))

    def answered(self, who: str, body: dict[str, Any] | None) -> None:
        """An invoke answered with a text: Teams shows it to the clicker alone."""
        if body and body.get("type") == NOTICE:
            line = self.words["notice"].format(user="@" + who, text=str(body.get("value") or ""))
            self.console.print(Text(line, style="dim"))

    # ---- the cast's actions --------------------------------------------------------------------
    def type(self, who: str, text: str, where: str | None) -> None:
        """A message to the bot: in a channel or thread it @mentions the bot, in the 1:1 chat it need not."""
        self.acts(who, "demo.types", command=escape(f"@{self.emu.bot_name} crisis {text}"))
        self.people[who].say(f"crisis {text}", where)
        self.show_new()

    def click(self, who: str, label: str, activity_id: str, verb: str, **kwargs: Any) -> dict[str, Any] | None:
        self.acts(who, "demo.clicks", label=label)
        response = self.people[who].invoke_action(activity_id, verb, **kwargs)
        self.local.settle()
        self.answered(who, response.json)
        self.show_new()
        return response.json

    def dialog(self, who: str, opener: dict[str, Any] | None, where: str, answers: dict[str, Any]) -> None:
        """Open the dialog an opener card's button opens, fill it in, submit it."""
        person = self.people[who]
        fetched = person.fetch_task(_submit_data(opener), where=where)
        self.local.settle()
        self.show_new()
        title = ((fetched.json or {}).get("task") or {}).get("value", {}).get("title", "")
        self.console.print(Text(self.words["form"].format(title=title, user="@" + who), style="cyan"))
        form = person.open_dialog
        response = person.submit_task({**_submit_data(form), **answers}, where=where)
        self.local.settle()
        if task_card(response.json) is not None:  # the dialog came back with an error: the story is broken
            raise RuntimeError(f"the {who} dialog was refused: {card_lines(task_card(response.json))}")
        self.show_new()

    def acknowledge(self, who: str, incident: Incident) -> None:
        """Press Acknowledge on the 1:1 message that paged `who` for this incident."""
        paging = [a for a in self.emu.chat(self.people[who]) if _action(a, "acknowledge", f"{incident.id}:")]
        self.click(who, self.ui("button.acknowledge"), paging[-1]["id"], "acknowledge")

    def tick(self, who: str, incident: Incident, item: str) -> None:
        """Press Done on one checklist item of the header card."""
        header = self.desk.store.delivery(f"{incident.id}:header") or ""
        data = {"value": f"{incident.id}:{item}"}
        self.click(who, self.ui("button.done"), header, "checklist_done", data=data)

    def sees(self, who: str, activity_id: str) -> list[str]:
        """What `who` sees of a card (their own view when they are in its refresh.userIds): its decision buttons."""
        card = self.people[who].view(activity_id)
        verbs = [str(a.get("title")) for a in execute_actions(card) if a.get("verb") != "refresh"]
        text = "  ".join(f"[ {v} ]" for v in verbs) or self.words["no_buttons"]
        self.console.print(Text(self.words["sees"].format(user="@" + who, text=text), style="cyan"))
        return verbs

    # ---- the story -----------------------------------------------------------------------------
    def run(self) -> int:
        desk, channel = self.desk, self.emu.crisis_channel
        self.show_new()  # the app installed in the team, its greeting in the crisis channel
        self.step("demo.teams.step0")
        self.type("anna", "roles", None)

        self.step("demo.teams.step1")
        self.type("bram", f"declare data-breach 2 {self.say('demo.breach_title')}", channel)
        breach = desk.store.incidents()[-1]
        room = breach.room_ref or ""
        drafts = {d.network: d for d in desk.store.drafts(breach.id)}
        since = len(self.emu.activities(room))  # the thread's posts after the set-up: what the bot says later
        self.checks["thread"] = room.startswith(channel + ";messageid=")

        self.step("demo.teams.step2")
        self.pause()
        for name in ("anna", "chen", "eli"):  # Dewi is in a meeting: she does not acknowledge
            self.acknowledge(name, breach)
        self.tick("bram", breach, "pause_scheduled_posts")
        self.tick("anna", breach, "gather_team")

        self.step("demo.teams.step3")
        self.pause()
        self.type("eli", self.say("demo.breach_note"), room)
        self.tick("eli", breach, "assess_facts")

        self.step("demo.teams.step4")
        x = drafts["x"]
        ref = x.message_ref or ""
        self.checks["views"] = not self.sees("gijs", ref) and bool(self.sees("chen", ref))
        opener = self.click("chen", self.ui("button.edit"), ref, "draft_edit")
        new_text = self.legal_edit(desk.store.draft(x.id).text)
        self.acts("chen", "demo.saves")
        self.console.print(f"  [italic]{escape(new_text)}[/]")
        self.dialog("chen", response_card(opener), room, {"text": new_text})

        self.step("demo.teams.step5")
        x = desk.store.draft(x.id)
        refused = self.click(
            "gijs", self.ui("button.approve"), ref, "draft_approve", stale=True, data={"value": f"{x.id}:{x.version}"}
        )
        self.checks["refused"] = bool(refused and refused.get("type") == NOTICE) and not desk.store.approvals(x.id)

        self.step("demo.teams.step6")
        self.pause()
        for draft in drafts.values():
            for name in ("anna", "chen"):
                self.click(name, self.ui("button.approve"), draft.message_ref or "", "draft_approve")

        self.step("demo.teams.step7")
        for draft in drafts.values():
            self.click("bram", self.ui("button.mark_posted"), draft.message_ref or "", "draft_mark_posted")
        self.tick("bram", breach, "first_public_response")
        self.type("anna", f"update {self.say('demo.teams.update')}", room)

        self.step("demo.teams.step8")
        self.checks["reminded"] = self.wait_for_post(room, self.people["dewi"].name, since) is not None
        self.checks["backup paged"] = self.wait_for_post(room, self.people["fleur"].name, since) is not None
        self.acknowledge("fleur", breach)
        self.checks["backup took the role"] = "communications" in desk.store.acks(breach.id)

        self.step("demo.teams.step9")
        self.type("chen", "gdpr notified", room)

        self.step("demo.teams.step10")
        self.type("anna", "resolve", room)
        opener_card = self.last_card(room)
        self.acts("anna", "demo.fills_resolve")
        self.dialog("anna", opener_card, room, self.resolve_values(breach))
        self.checks["resolved"] = desk.store.incident(breach.id).status == "resolved"
        self.checks["chart"] = self.chart_served(room)

        self.step("demo.teams.step11")
        self.answer_survey("chen", breach, 4, 5, self.say("demo.survey_answer"))
        self.show_report(breach.id)

        self.step("demo.teams.step12")
        self.show_header(desk.store.incident(breach.id))
        return self.summary(breach.id)

    def answer_survey(self, who: str, incident: Incident, process: int, clarity: int, improve: str) -> None:
        survey = [a for a in self.emu.chat(self.people[who]) if _action(a, "survey_open", "")]
        self.checks["survey"] = bool(survey)
        if not survey:
            return
        opener = self.click(who, self.ui("button.survey"), survey[-1]["id"], "survey_open")
        self.dialog(who, response_card(opener), self.people[who].chat_id, {"q1": str(process), "q2": str(clarity)})
        self.checks["survey"] = len(self.desk.store.events(incident.id, "survey_answer")) == 1

    def last_card(self, conversation: str) -> dict[str, Any] | None:
        """The card of the bot's latest message in a conversation (the answer to a command typed there)."""
        for activity in reversed(self.emu.activities(conversation)):
            if activity.get("from", {}).get("id") == self.emu.bot_id:
                return self.emu.card_of(str(activity["id"]))
        return None

    def chart_served(self, conversation: str) -> bool:
        """The summary card's chart is an Image by URL on the bot's own listener: fetch it as Teams would."""
        for activity in reversed(self.emu.activities(conversation)):
            urls = _image_urls(self.emu.card_of(str(activity["id"])))
            if urls:
                with urllib.request.urlopen(urls[0], timeout=10) as answer:  # the bot's own 127.0.0.1 listener
                    png = answer.read()
                self.console.print(Text(self.say("demo.teams.chart", url=urls[0], size=len(png)), style="cyan"))
                return bool(answer.status == 200 and png.startswith(b"\x89PNG"))
        return False

    def show_header(self, incident: Incident) -> None:
        """The header card in full, as it stands now."""
        ref = self.desk.store.delivery(f"{incident.id}:header") or ""
        data = self.emu.activity(ref) or {}
        card = self.emu.card_of(ref)
        where = f"#crisis › {incident.code}"
        event = Event("message_posted", incident.room_ref, where, self.emu.bot_name, cards=[card] if card else [])
        event.activity_id = str(data.get("id") or ref)
        self.console.print(self.condenser.full(event))

    def wait_for_post(
        self, conversation: str, needle: str, since: int, crisis_minutes: float = 30
    ) -> dict[str, Any] | None:
        """Let crisis time run until the bot has posted a message in `conversation` (after its first `since`
        posts) whose card names `needle`; the same post answers one wait only."""
        deadline = time.monotonic() + crisis_minutes * 60 / self.speed + 5
        while time.monotonic() < deadline:
            for activity in self.emu.activities(conversation)[since:]:
                if activity.get("from", {}).get("id") != self.emu.bot_id or activity["id"] in self.waited:
                    continue
                lines = card_lines(self.emu.card_of(str(activity["id"]))) or [str(activity.get("text") or "")]
                if needle in " ".join(lines):
                    self.waited.add(str(activity["id"]))
                    time.sleep(0.2)  # the runner may still be redrawing the header
                    self.show_new()
                    return activity
            time.sleep(0.05)
        self.show_new()
        return None

    def summary(self, incident_id: int) -> int:
        posted = self.first_response(incident_id)
        events = len(self.desk.store.events(incident_id))
        calls = len(self.emu.calls)
        self.console.print(self.say("demo.totals_teams", events=events, calls=calls, redraws=self.condenser.redraws))
        trouble = self.emu.invalid + self.emu.problems
        cards = sum(len(e.cards) for e in self.emu.events)
        if trouble:
            self.console.print("[red]" + escape(self.say("demo.teams.invalid", count=len(trouble))) + "[/red]")
            for line in trouble[:10]:
                self.console.print(Text("  " + line, style="red"))
        else:
            self.console.print(self.say("demo.teams.valid", cards=cards))
        failed = [name for name, held in self.checks.items() if not held]
        if failed:
            self.console.print("[red]" + escape(self.say("demo.teams.failed", checks=", ".join(failed))) + "[/red]")
        return 0 if posted and not trouble and not failed else 1


def _action(activity: dict[str, Any], verb: str, prefix: str) -> bool:
    """Whether an activity's card has an Action.Execute `verb` whose value starts with `prefix`."""
    for card in (a.get("content") for a in activity.get("attachments") or []):
        for action in execute_actions(card):
            value = (action.get("data") or {}).get("value")
            if action.get("verb") == verb and str(value or "").startswith(prefix):
                return True
    return False


def _image_urls(node: Any) -> list[str]:
    """The URLs of a card's Image elements."""
    if isinstance(node, dict):
        own = [str(node["url"])] if node.get("type") == "Image" and node.get("url") else []
        return own + [url for value in node.values() for url in _image_urls(value)]
    if isinstance(node, list):
        return [url for item in node for url in _image_urls(item)]
    return []


def _submit_data(card: dict[str, Any] | None) -> dict[str, Any]:
    """The data of a card's first Action.Submit: a dialog's opener, or its form's submit button."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Submit":
                found.append(dict(node.get("data") or {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    if not found:
        raise RuntimeError("the bot's card has no button that opens a dialog")
    return found[0]
