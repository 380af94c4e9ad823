"""`crisisbot demo`: a data-breach crisis played by a cast of people against the built-in Slack emulator.

Every step is a real signed request into the real Bolt app (the `crisisbot serve` code path, over HTTP),
and every effect is a real Web API call into the emulator; the transcript is what the people would see.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.rule import Rule

from bot.clock import SystemClock
from bot.messages import duration, local_time
from bot.report import write_report
from bot.sandbox.transcript import render_event
from bot.workspace import LocalCrisisDesk, start_local

STEP_MINUTES = 3  # crisis minutes between the cast's actions; the clock speed turns them into real seconds


class DemoScript:
    report_path: Path | None = None

    def __init__(self, local: LocalCrisisDesk, console: Console, language: str, speed: float) -> None:
        self.local, self.console, self.language, self.speed = local, console, language, speed
        self.emu = local.emulator
        self.seen = 0
        self.people = {p.name: p.id for p in local.cast}
        self.say = _wording(language)

    # ---- narration -----------------------------------------------------------------------------
    def step(self, text: str) -> None:
        self.console.print()
        self.console.print(Rule(style="cyan"))
        self.console.print(f"[bold cyan]{escape(text)}[/]")

    def show_new(self) -> None:
        """Print what appeared in Slack since the last step."""
        self.local.settle()
        events = self.emu.events[self.seen :]
        self.seen += len(events)
        for event in events:
            rendered = render_event(event, self.emu)
            if rendered is not None:
                self.console.print(rendered)

    def pause(self, minutes: float = STEP_MINUTES) -> None:
        time.sleep(minutes * 60 / self.speed)

    # ---- the cast's actions --------------------------------------------------------------------
    def command(self, who: str, text: str) -> None:
        self.console.print(f"[bold magenta]@{who}[/] " + self.say("demo.types", command=f"/crisis {text}"))
        self.emu.slash_command(self.people[who], text)
        self.show_new()

    def click(self, who: str, label: str, action_id: str, *, channel_id: str, ts: str) -> None:
        self.console.print(f"[bold magenta]@{who}[/] " + self.say("demo.clicks", label=label))
        self.emu.click(self.people[who], action_id, channel_id=channel_id, ts=ts)
        self.show_new()

    def run(self) -> int:
        desk = self.local.desk
        say = lambda key, **kw: desk.messages.ui(self.language, key, **kw)  # noqa: E731
        self.step(self.say("demo.step0"))
        for person in self.local.cast:
            if person.role:
                self.emu.slash_command(self.people["anna"], f"roles set {person.role} <@{person.id}|{person.name}>")
        self.local.settle()
        self.seen = len(self.emu.events)  # six confirmations; the overview below says it all
        self.command("anna", "roles")

        self.step(self.say("demo.step1"))
        self.declare_in_modal(
            "bram",
            "data-breach",
            2,
            "Customer emails exposed via partner portal",
            "A partner portal exposed customer email addresses; posts on X claim the list is for sale.",
            detected_minutes_ago=25,
        )
        incident = desk.store.incidents()[-1]
        channel = incident.channel_id or ""
        drafts = {d.network: d for d in desk.store.drafts(incident.id)}

        self.step(self.say("demo.step2"))
        self.pause()
        for name in ("anna", "chen", "dewi", "eli"):
            dm = self.emu.dm_channel_of(self.people[name])
            message = self.emu.dms(self.people[name])[-1]
            self.click(name, say("button.acknowledge"), "acknowledge", channel_id=dm, ts=message["ts"])

        self.step(self.say("demo.step3"))
        header_ts = desk.store.delivery(f"{incident.id}:header") or ""
        self.click("bram", say("button.done"), "checklist_done", channel_id=channel, ts=header_ts)

        self.step(self.say("demo.step4"))
        self.pause()
        x = drafts["x"]
        self.click("chen", say("button.edit"), "draft_edit", channel_id=channel, ts=x.message_ts or "")
        view = self.emu.open_view(self.people["chen"])
        new_text = desk.store.draft(x.id).text.replace("  ", " ")
        new_text = _legal_edit(new_text, self.language)
        self.console.print("[bold magenta]@chen[/] " + self.say("demo.saves") + f"\n  [italic]{escape(new_text)}[/]")
        self.emu.submit_view(
            self.people["chen"], view["id"], {"text": {"value": {"type": "plain_text_input", "value": new_text}}}
        )
        self.show_new()

        self.step(self.say("demo.step5"))
        self.wait_for_post(channel, "⏰")

        self.step(self.say("demo.step6"))
        self.click("gijs", say("button.approve"), "draft_approve", channel_id=channel, ts=x.message_ts or "")

        self.step(self.say("demo.step7"))
        self.pause()
        for draft in drafts.values():
            for name in ("anna", "chen"):
                self.click(name, say("button.approve"), "draft_approve", channel_id=channel, ts=draft.message_ts or "")

        self.step(self.say("demo.step8"))
        self.pause()
        self.click("bram", say("button.mark_posted"), "draft_mark_posted", channel_id=channel, ts=x.message_ts or "")

        self.step(self.say("demo.step9"))
        self.declare_in_modal(
            "eli",
            "service-outage",
            2,
            "Login fails for app users",
            "Since this morning many users cannot log in to the app.",
            detected_minutes_ago=57,
        )
        outage = desk.store.incidents()[-1]
        self.step(self.say("demo.step10"))
        missed = self.wait_for_post(outage.channel_id or "", "⚠️")
        self.step(self.say("demo.step11"))
        self.click(
            "anna", say("button.escalate", level=3), "escalate", channel_id=outage.channel_id or "", ts=missed["ts"]
        )

        self.step(self.say("demo.step12"))
        self.pause(30)
        self.emu.slash_command(self.people["anna"], "resolve", channel_id=channel)
        self.local.settle()
        view = self.emu.open_view(self.people["anna"])
        self.console.print("[bold magenta]@anna[/] " + self.say("demo.fills_resolve"))
        self.emu.submit_view(
            self.people["anna"],
            view["id"],
            {
                "summary": {"value": {"type": "plain_text_input", "value": self.say("demo.resolve_summary")}},
                "impact": {"value": {"type": "plain_text_input", "value": self.say("demo.resolve_impact")}},
                "lessons": {"value": {"type": "plain_text_input", "value": self.say("demo.resolve_lessons")}},
            },
        )
        self.show_new()
        self.step(self.say("demo.step13"))
        self.answer_survey("chen", 4, 5, self.say("demo.survey_answer"))
        self.show_report(incident.id)
        return self.summary(incident.id, outage.id)

    def answer_survey(self, who: str, process: int, clarity: int, improve: str) -> None:
        dm = self.emu.dm_channel_of(self.people[who]) or ""
        survey = self.emu.dms(self.people[who])[-1]
        self.click(
            who,
            self.local.desk.messages.ui(self.language, "button.survey"),
            "survey_open",
            channel_id=dm,
            ts=survey["ts"],
        )
        view = self.emu.open_view(self.people[who])
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

    def show_report(self, incident_id: int) -> None:
        """The evaluation report, in the terminal and as files next to where the demo ran."""
        desk = self.local.desk
        names = {p.id: p.real_name for p in self.local.cast}
        markdown, chart = write_report(
            desk, desk.store.incident(incident_id), self.language, self.report_path, user_names=names
        )
        self.console.print(Markdown(markdown.read_text(encoding="utf-8")))
        self.console.print(self.say("demo.report_written", markdown=str(markdown), chart=str(chart)))

    def declare_in_modal(
        self, who: str, scenario: str, level: int, title: str, what: str, detected_minutes_ago: int
    ) -> None:
        """`/crisis` with no text opens the form; fill it in as a person would."""
        self.console.print(f"[bold magenta]@{who}[/] " + self.say("demo.fills_form"))
        self.emu.slash_command(self.people[who], "")
        self.local.settle()
        view = self.emu.open_view(self.people[who])
        detected = int(self.local.desk.now().timestamp()) - detected_minutes_ago * 60
        self.emu.submit_view(
            self.people[who],
            view["id"],
            {
                "scenario": {"value": {"type": "static_select", "selected_option": {"value": scenario}}},
                "level": {"value": {"type": "static_select", "selected_option": {"value": str(level)}}},
                "title": {"value": {"type": "plain_text_input", "value": title}},
                "description": {"value": {"type": "plain_text_input", "value": what}},
                "detected": {"value": {"type": "datetimepicker", "selected_date_time": detected}},
            },
        )
        self.show_new()

    def wait_for_post(self, channel: str, prefix: str, crisis_minutes: float = 90) -> dict:
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
        desk = self.local.desk
        incident = desk.store.incident(incident_id)
        self.console.print()
        self.console.print(Rule("[bold]" + self.say("demo.summary") + "[/bold]", style="green"))
        if incident.first_response_at is None:
            self.console.print("[red]" + self.say("demo.no_response") + "[/red]")
            return 1
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
        outage = desk.store.incident(outage_id)
        self.console.print(self.say("demo.outage", code=outage.code, target=duration(target, lang), level=outage.level))
        events = len(desk.store.events(incident.id)) + len(desk.store.events(outage.id))
        self.console.print(self.say("demo.totals", events=events, calls=len(self.emu.calls)))
        return 0 if outage.level == 3 else 1


def _wording(language: str):
    from bot.config import default_dir
    from bot.messages import Messages

    messages = Messages(default_dir("messages"))
    return lambda key, **params: messages.ui(language, key, **params)


def _legal_edit(text: str, language: str) -> str:
    """Legal's edit in the demo: no speculation, keep it within X's limit."""
    marker = " (details follow)" if language == "en" else " (details volgen)"
    return text if len(text) + len(marker) > 270 else text + marker


def run_demo(
    language: str = "en",
    speed: float = 60.0,
    transcript: Path | None = None,
    console: Console | None = None,
    report: Path | None = None,
) -> int:
    """Play the demo; returns the exit code (0 when the first response was posted)."""
    console = console or Console(record=transcript is not None, highlight=False)
    console.print(
        "[bold]Crisis Desk demo[/bold] — " + _wording(language)("demo.intro", language=language, speed=f"{speed:g}")
    )
    with start_local(clock=SystemClock(speed), environ={"CRISISBOT_LANGUAGE": language}) as local:
        script = DemoScript(local, console, language, speed)
        script.report_path = report
        code = script.run()
    if transcript is not None:
        transcript.write_text(console.export_text(), encoding="utf-8")
        console.print(_wording(language)("demo.transcript", path=str(transcript)))
    return code
