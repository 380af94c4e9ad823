"""`crisisbot demo`: a data-breach crisis played by a cast of people against the built-in Slack emulator.

Every step is a real signed request into the real Bolt app (the `crisisbot serve` code path, over HTTP),
and every effect is a real Web API call into the emulator. The company is configured the way a user
configures theirs: `bot/sandbox/demo-crisisbot.yaml` (`.nl.yaml` in Dutch) is a `crisisbot.yaml` the demo loads. The transcript
is condensed so a person reads it in two minutes: new messages in full, each redraw as one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.rule import Rule

from bot.clock import SystemClock
from bot.incidents import Desk
from bot.localdesk import LocalCrisisDesk, start_local
from bot.messages import duration, local_time
from bot.models import Incident
from bot.report import write_report
from bot.sandbox.local import Person
from bot.sandbox.model import GENERAL_ID, Event
from bot.sandbox.monitor import Monitor
from bot.sandbox.payloads import submitted_as_shown
from bot.sandbox.transcript import WORDS, Condenser

DEMO_CONFIG = Path(__file__).resolve().parent / "sandbox" / "demo-crisisbot.yaml"
DEMO_SOURCE_SECRET = "demo-coosto-secret"  # the demo config's monitoring source (intake.sources.coosto)


def demo_config(language: str, platform: str = "slack") -> Path:
    """The demo company's crisisbot.yaml; a Dutch company writes its own profile in Dutch. Teams' names the role
    owners by Entra object id (`demo-crisisbot.teams.yaml`), as a company on Teams configures its own."""
    base = DEMO_CONFIG.with_suffix(".teams.yaml") if platform == "teams" else DEMO_CONFIG
    localized = base.with_suffix(f".{language}.yaml")
    return localized if localized.is_file() else base


STEP_MINUTES = 3  # crisis minutes between the cast's actions; the clock speed turns them into real seconds
# Crisis minutes the story takes (pauses and the bot's own deadlines it waits for), plus the real seconds of
# setting up and of the requests themselves; measured, so the demo can say up front how long it takes.
STORY_MINUTES = 36
SETUP_SECONDS = 12


# The Teams story: its pauses and the acknowledgement window it waits out, plus its set-up and requests.
TEAMS_STORY_MINUTES = 34
TEAMS_SETUP_SECONDS = 10


def expected_seconds(speed: float, platform: str = "slack") -> int:
    if platform == "teams":
        return round(TEAMS_STORY_MINUTES * 60 / speed + TEAMS_SETUP_SECONDS)
    return round(STORY_MINUTES * 60 / speed + SETUP_SECONDS)


def legal_edit(language: str, text: str) -> str:
    """Legal makes the X draft precise: what is confirmed, and what customers can rely on."""
    say = _wording(language)
    for number in (1, 2):
        before, after = say(f"demo.legal_from_{number}"), say(f"demo.legal_to_{number}")
        if before not in text:
            raise RuntimeError(f"the X template no longer says {before!r}; update demo.legal_from_{number}")
        text = text.replace(before, after)
    return text


class Story:
    """What the demo's story does the same on every platform: narration, crisis-time pauses, legal's edit, the
    resolve form's answers, the report, the first response against the target."""

    report_path: Path | None = None

    def __init__(self, desk: Desk, cast: list[Person], console: Console, language: str, speed: float) -> None:
        self.desk, self.cast, self.console, self.language, self.speed = desk, cast, console, language, speed
        self.say = _wording(language)
        self.ui: Callable[..., str] = lambda key, **kw: desk.messages.ui(language, key, **kw)

    def step(self, key: str, **params: Any) -> None:
        self.console.print()
        self.console.print(Rule(style="cyan"))
        self.console.print(f"[bold cyan]{escape(self.say(key, **params))}[/]")

    def pause(self, minutes: float = STEP_MINUTES) -> None:
        time.sleep(minutes * 60 / self.speed)

    def legal_edit(self, text: str) -> str:
        return legal_edit(self.language, text)

    def resolve_values(self, incident: Incident) -> dict[str, str]:
        """What the crisis lead writes in the resolve form."""
        notes = self.desk.store.events(incident.id, "note")
        revoked = local_time(notes[0].at if notes else self.desk.now(), self.language, self.desk.settings.tz)
        return {
            "summary": self.say("demo.resolve_summary", revoked=revoked),
            "impact": self.say("demo.resolve_impact"),
            "lessons": self.say("demo.resolve_lessons"),
        }

    def show_report(self, incident_id: int) -> None:
        """The report's key metrics in the terminal; the whole report and its chart as files."""
        desk = self.desk
        names = {p.id: p.real_name for p in self.cast} | {p.aad_id: p.real_name for p in self.cast}
        markdown, chart = write_report(
            desk, desk.store.incident(incident_id), self.language, self.report_path, user_names=names
        )
        # Sections: title and facts, summary, key metrics, … — the terminal shows the key metrics only.
        sections = markdown.read_text(encoding="utf-8").split("\n## ")
        self.console.print(Markdown("## " + sections[2]))
        self.console.print(self.say("demo.report_written", markdown=str(markdown), chart=str(chart)))

    def first_response(self, incident_id: int) -> bool:
        """The summary's heading and the first response against the target; False when none was posted."""
        desk = self.desk
        incident = desk.store.incident(incident_id)
        self.console.print()
        self.console.print(Rule("[bold]" + self.say("demo.summary") + "[/bold]", style="green"))
        if incident.first_response_at is None:
            self.console.print("[red]" + self.say("demo.no_response") + "[/red]")
            return False
        took = incident.first_response_at - incident.detected_at
        target = incident.first_response_due - incident.detected_at
        tz, lang = desk.settings.tz, self.language
        self.console.print(
            self.say(
                "demo.first_response",
                code=incident.code,
                at=local_time(incident.first_response_at, lang, tz),
                took=duration(took, lang),
                target=duration(target, lang),
                met=took <= target,
            )
        )
        return True


class DemoScript(Story):
    def __init__(self, local: LocalCrisisDesk, console: Console, language: str, speed: float) -> None:
        super().__init__(local.desk, local.cast, console, language, speed)
        self.local = local
        self.emu = local.emulator
        self.seen = 0
        self.people = {p.name: p.id for p in local.cast}
        words = {key: self.say(f"transcript.{key}") for key in WORDS}
        self.condenser = Condenser(self.emu, words=words)

    def show_new(self) -> None:
        """Print what appeared in Slack since the last step, condensed."""
        self.local.settle()
        store = self.local.desk.store
        # The first incident's pinned header is shown whole when it appears; every redraw after is one line.
        incidents = store.incidents()
        if incidents:
            self.condenser.in_full.add(store.delivery(f"{incidents[0].id}:header") or "")
        events = self.emu.events[self.seen :]
        self.seen += len(events)
        for rendered in self.condenser.render(events):
            self.console.print(rendered)

    # ---- the cast's actions --------------------------------------------------------------------
    def command(self, who: str, text: str, channel: str | None = None) -> None:
        self.console.print(f"[bold magenta]@{who}[/] " + self.say("demo.types", command=escape(f"/crisis {text}")))
        self.emu.slash_command(self.people[who], text, channel_id=channel)
        self.show_new()

    def click(
        self, who: str, label: str, action_id: str, *, channel_id: str, ts: str, value: str | None = None
    ) -> None:
        self.console.print(f"[bold magenta]@{who}[/] " + self.say("demo.clicks", label=label))
        self.emu.click(self.people[who], action_id, channel_id=channel_id, ts=ts, value=value)
        self.show_new()

    def acknowledge(self, who: str, incident: Incident) -> None:
        """Press Acknowledge on the DM that paged `who` for this incident."""
        dm = self.emu.dm_channel_of(self.people[who]) or ""
        paging = [m for m in self.emu.dms(self.people[who]) if _button_value(m, "acknowledge", f"{incident.id}:")]
        value = _button_value(paging[-1], "acknowledge", f"{incident.id}:")
        self.click(who, self.ui("button.acknowledge"), "acknowledge", channel_id=dm, ts=paging[-1]["ts"], value=value)

    def tick(self, who: str, incident: Incident, item: str) -> None:
        """Press Done on one checklist item of the pinned header."""
        header = self.local.desk.store.delivery(f"{incident.id}:header") or ""
        self.click(
            who,
            self.ui("button.done"),
            "checklist_done",
            channel_id=incident.room_ref or "",
            ts=header,
            value=f"{incident.id}:{item}",
        )

    def run(self) -> int:
        desk = self.local.desk
        self.step("demo.step0")
        for person in self.local.cast:
            if person.role:
                self.emu.slash_command(self.people["anna"], f"roles set {person.role} <@{person.id}|{person.name}>")
        self.local.settle()
        self.seen = len(self.emu.events)  # six confirmations; the overview below says it all
        self.command("anna", "roles")

        self.step("demo.step1")
        breach = self.declare_from_alert("bram", "breach", detected_minutes_ago=25)
        channel = breach.room_ref or ""
        drafts = {d.network: d for d in desk.store.drafts(breach.id)}

        self.step("demo.step2")
        self.pause()
        for name in ("anna", "chen", "dewi", "eli"):
            self.acknowledge(name, breach)

        self.step("demo.step3")
        self.tick("bram", breach, "pause_scheduled_posts")
        self.tick("anna", breach, "gather_team")

        self.step("demo.step4")
        self.pause()
        self.command("eli", self.say("demo.breach_note"), channel)
        self.tick("eli", breach, "assess_facts")
        self.wait_for_post(channel, "⏰")  # 30 minutes left: the bot names the approvals still missing

        self.step("demo.step5")
        x = drafts["x"]
        self.click("chen", self.ui("button.edit"), "draft_edit", channel_id=channel, ts=x.message_ref or "")
        view = self.emu.open_view(self.people["chen"]) or {}
        new_text = self.legal_edit(desk.store.draft(x.id).text)
        self.console.print("[bold magenta]@chen[/] " + self.say("demo.saves") + f"\n  [italic]{escape(new_text)}[/]")
        self.emu.submit_view(
            self.people["chen"], view["id"], {"text": {"value": {"type": "plain_text_input", "value": new_text}}}
        )
        self.show_new()

        self.step("demo.step6")
        self.click("gijs", self.ui("button.approve"), "draft_approve", channel_id=channel, ts=x.message_ref or "")

        self.step("demo.step7")
        self.pause()
        for draft in drafts.values():
            for name in ("anna", "chen"):
                self.click(
                    name, self.ui("button.approve"), "draft_approve", channel_id=channel, ts=draft.message_ref or ""
                )

        self.step("demo.step8")
        self.pause()
        for draft in drafts.values():
            ts = draft.message_ref or ""
            self.click("bram", self.ui("button.mark_posted"), "draft_mark_posted", channel_id=channel, ts=ts)
        self.tick("bram", breach, "first_public_response")

        self.step("demo.step9")
        outage = self.declare_in_modal("eli", "service-outage", 2, "outage", detected_minutes_ago=57)
        self.step("demo.step10")
        missed = self.wait_for_post(outage.room_ref or "", "⚠️")
        self.step("demo.step11")
        self.click(
            "anna",
            self.ui("button.escalate", level=3),
            "escalate",
            channel_id=outage.room_ref or "",
            ts=missed["ts"],
        )
        for name in ("anna", "bram", "fleur"):
            self.acknowledge(name, outage)

        self.step("demo.step12")
        self.command("chen", "gdpr notified", channel)
        self.pause(
            18
        )  # the outage's acknowledgement window runs out meanwhile: only who has not acknowledged is chased
        self.show_new()

        self.step("demo.step13")
        self.resolve(breach)
        self.step("demo.step14")
        self.answer_survey("chen", 4, 5, self.say("demo.survey_answer"))
        self.show_report(breach.id)
        self.step("demo.step15")
        self.show_header(desk.store.incident(breach.id))
        return self.summary(breach.id, outage.id)

    def resolve(self, incident: Incident) -> None:
        self.emu.slash_command(self.people["anna"], "resolve", channel_id=incident.room_ref)
        self.local.settle()
        view = self.emu.open_view(self.people["anna"]) or {}
        self.console.print("[bold magenta]@anna[/] " + self.say("demo.fills_resolve"))
        values = self.resolve_values(incident)
        self.emu.submit_view(
            self.people["anna"],
            view["id"],
            {key: {"value": {"type": "plain_text_input", "value": value}} for key, value in values.items()},
        )
        self.show_new()

    def answer_survey(self, who: str, process: int, clarity: int, improve: str) -> None:
        dm = self.emu.dm_channel_of(self.people[who]) or ""
        survey = self.emu.dms(self.people[who])[-1]
        self.click(who, self.ui("button.survey"), "survey_open", channel_id=dm, ts=survey["ts"])
        view = self.emu.open_view(self.people[who]) or {}
        self.emu.submit_view(
            self.people[who],
            view["id"],
            {
                "q1": {"value": {"type": "static_select", "selected_option": {"value": str(process)}}},
                "q2": {"value": {"type": "static_select", "selected_option": {"value": str(clarity)}}},
                "q3": {"value": {"type": "plain_text_input", "value": improve}},
            },
        )
        self.show_new()

    def show_header(self, incident: Incident) -> None:
        """The pinned header in full, as it stands now."""
        ts = self.local.desk.store.delivery(f"{incident.id}:header") or ""
        message = self.emu.message(incident.room_ref or "", ts) or {}
        event = Event(
            kind="message_posted",
            channel_id=incident.room_ref,
            channel=incident.room_name,
            user=message.get("user"),
            text=message.get("text", ""),
            blocks=message.get("blocks") or [],
            ts=ts,
        )
        self.console.print(self.condenser.full(event))

    def declare_in_modal(self, who: str, scenario: str, level: int, story: str, detected_minutes_ago: int) -> Incident:
        """`/crisis` with no text opens the form; fill it in as a person would."""
        self.console.print(f"[bold magenta]@{who}[/] " + self.say("demo.fills_form"))
        self.emu.slash_command(self.people[who], "")
        self.local.settle()
        view = self.emu.open_view(self.people[who]) or {}
        detected = int(self.local.desk.now().timestamp()) - detected_minutes_ago * 60
        self.emu.submit_view(
            self.people[who],
            view["id"],
            {
                "scenario": {"value": {"type": "static_select", "selected_option": {"value": scenario}}},
                "level": {"value": {"type": "static_select", "selected_option": {"value": str(level)}}},
                "title": {"value": {"type": "plain_text_input", "value": self.say(f"demo.{story}_title")}},
                "description": {"value": {"type": "plain_text_input", "value": self.say(f"demo.{story}_what")}},
                "detected": {"value": {"type": "datetimepicker", "selected_date_time": detected}},
            },
        )
        self.show_new()
        return self.local.desk.store.incidents()[-1]

    def declare_from_alert(self, who: str, story: str, detected_minutes_ago: int) -> Incident:
        """The monitoring tool's signed alert becomes a triage card; `who` declares from it, adding what they know."""
        desk = self.local.desk
        self.console.print("[bold magenta]Coosto[/] " + escape(self.say("demo.alert_sent")))
        detected = desk.now() - timedelta(minutes=detected_minutes_ago)
        monitor = Monitor(self.local.intake_url, "coosto", DEMO_SOURCE_SECRET)
        sent = monitor.send(
            {
                "alert_key": "coosto-4711",
                "title": self.say(f"demo.{story}_title"),
                "text": self.say("demo.alert_text"),
                "url": "https://x.com/acmewatch/status/4711",
                "network": "x",
                "author": "@acmewatch",
                "reach": 14_000,
                "sentiment": -0.5,
                "matched_keywords": ["for sale"],
                "detected_at": detected.isoformat(),
            }
        )
        if sent.status != 202:
            raise RuntimeError(f"the intake refused the demo's alert: {sent.body}")
        card = self._card()
        self.console.print(f"[bold magenta]@{who}[/] " + self.say("demo.declares_from_card"))
        self.emu.click(self.people[who], "triage_declare", channel_id=GENERAL_ID, ts=card)
        self.local.settle()
        view = self.emu.open_view(self.people[who]) or {}
        state = submitted_as_shown(view)  # scenario, level, title and detection as the card suggested
        state["description"] = {"value": {"type": "plain_text_input", "value": self.say(f"demo.{story}_what")}}
        self.emu.submit_view(self.people[who], view["id"], state)
        self.show_new()
        return desk.store.incidents()[-1]

    def _card(self, seconds: float = 10.0) -> str:
        """The triage card's ts once the bot posted it (its outbox row goes out within a moment)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            triages = self.local.desk.store.triages()
            if triages and triages[-1].card_ref:
                self.show_new()
                return triages[-1].card_ref
            time.sleep(0.02)
        raise TimeoutError("the bot did not post the triage card in time")

    def wait_for_post(self, channel: str, prefix: str, crisis_minutes: float = 90) -> dict[str, Any]:
        """Let crisis time run until the bot posts a message starting with `prefix` in `channel`."""
        deadline = time.monotonic() + crisis_minutes * 60 / self.speed + 5
        while time.monotonic() < deadline:
            found = [m for m in self.emu.messages(channel) if m.get("text", "").startswith(prefix)]
            if found:
                time.sleep(0.2)  # the runner may still be redrawing the header
                self.show_new()
                return found[-1]
            time.sleep(0.05)
        raise TimeoutError(f"the bot did not post {prefix!r} in time")

    def summary(self, incident_id: int, outage_id: int) -> int:
        desk = self.desk
        incident = desk.store.incident(incident_id)
        if not self.first_response(incident_id):
            return 1
        target = incident.first_response_due - incident.detected_at
        lang = self.language
        outage = desk.store.incident(outage_id)
        self.console.print(self.say("demo.outage", code=outage.code, target=duration(target, lang), level=outage.level))
        events = len(desk.store.events(incident.id)) + len(desk.store.events(outage.id))
        self.console.print(
            self.say("demo.totals", events=events, calls=len(self.emu.calls), redraws=self.condenser.redraws)
        )
        return 0 if outage.level == 3 else 1


def _button_value(message: dict[str, Any], action_id: str, prefix: str) -> str | None:
    """The value of the first `action_id` button in a message whose value starts with `prefix`."""
    for block in message.get("blocks") or []:
        elements = [block.get("accessory")] if block.get("accessory") else block.get("elements") or []
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                value = str(element.get("value", ""))
                if value.startswith(prefix):
                    return value
    return None


def _wording(language: str) -> Callable[..., str]:
    from bot.config import default_dir
    from bot.messages import Messages

    messages = Messages(default_dir("messages"))
    return lambda key, **params: messages.ui(language, key, **params)


def run_demo(
    language: str = "en",
    speed: float = 60.0,
    transcript: Path | None = None,
    console: Console | None = None,
    report: Path | None = None,
    platform: str = "slack",
) -> int:
    """Play the demo on `platform` ("slack" or "teams"); returns the exit code (0 when the story held)."""
    console = console or Console(record=transcript is not None, highlight=False)
    say = _wording(language)
    intro = "demo.teams.intro" if platform == "teams" else "demo.intro"
    seconds = expected_seconds(speed, platform)
    console.print(
        "[bold]Crisis Desk demo[/bold] — " + say(intro, language=language, speed=f"{speed:g}", seconds=seconds)
    )
    environ = {"CRISISBOT_CONFIG": str(demo_config(language, platform)), "CRISISBOT_LANGUAGE": language}
    code = (_play_teams if platform == "teams" else _play_slack)(console, environ, language, speed, report)
    if transcript is not None:
        transcript.write_text(console.export_text(), encoding="utf-8")
        console.print(say("demo.transcript", path=str(transcript)))
    return code


def _company(console: Console, desk: Desk, language: str) -> None:
    company = desk.settings.company
    say = _wording(language)
    console.print(say("demo.company", name=company.name, industry=company.industry, hashtag=company.hashtag))


def _play_slack(console: Console, environ: dict[str, str], language: str, speed: float, report: Path | None) -> int:
    with start_local(clock=SystemClock(speed), environ=environ) as local:
        _company(console, local.desk, language)
        script = DemoScript(local, console, language, speed)
        script.report_path = report
        return script.run()


def _play_teams(console: Console, environ: dict[str, str], language: str, speed: float, report: Path | None) -> int:
    # Imported here: the Slack demo never loads the Agents SDK.
    from bot.demo_teams import TeamsDemoScript
    from bot.localteams import start_local_teams

    with start_local_teams(clock=SystemClock(speed), environ=environ) as local:
        _company(console, local.desk, language)
        teams = TeamsDemoScript(local, console, language, speed)
        teams.report_path = report
        return teams.run()
