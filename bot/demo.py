"""`crisisbot demo`: a data-breach crisis played by a cast of people against the built-in Slack emulator.

Every step is a real signed request into the real Bolt app (the `crisisbot serve` code path, over HTTP),
and every effect is a real Web API call into the emulator; the transcript is what the people would see.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from bot.clock import SystemClock
from bot.messages import duration, local_time
from bot.sandbox.transcript import render_event
from bot.workspace import LocalCrisisDesk, start_local

STEP_MINUTES = 3  # crisis minutes between the cast's actions; the clock speed turns them into real seconds


class DemoScript:
    def __init__(self, local: LocalCrisisDesk, console: Console, language: str, speed: float) -> None:
        self.local, self.console, self.language, self.speed = local, console, language, speed
        self.emu = local.emulator
        self.seen = 0
        self.people = {p.name: p.id for p in local.cast}

    # ---- narration -----------------------------------------------------------------------------
    def step(self, text: str) -> None:
        self.console.print()
        self.console.print(Rule(f"[bold]{text}[/bold]", align="left", style="cyan"))

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
        self.console.print(f"[bold magenta]@{who}[/] types [bold]/crisis {text}[/]")
        self.emu.slash_command(self.people[who], text)
        self.show_new()

    def click(self, who: str, label: str, action_id: str, *, channel_id: str, ts: str) -> None:
        self.console.print(f"[bold magenta]@{who}[/] clicks [reverse] {label} [/reverse]")
        self.emu.click(self.people[who], action_id, channel_id=channel_id, ts=ts)
        self.show_new()

    def run(self) -> int:
        desk = self.local.desk
        say = lambda key, **kw: desk.messages.ui(self.language, key, **kw)  # noqa: E731
        self.step("0. The comms lead sets up who owns which role (once, before any crisis)")
        for person in self.local.cast:
            if person.role:
                self.emu.slash_command(self.people["anna"], f"roles set {person.role} <@{person.id}|{person.name}>")
        self.local.settle()
        self.seen = len(self.emu.events)  # six confirmations; the overview below says it all
        self.command("anna", "roles")

        self.step("1. 09:00 — customers report on X that their data is for sale. Bram declares.")
        self.command("bram", "declare data-breach 2 Customer emails exposed via partner portal")
        incident = desk.store.incidents()[-1]
        channel = incident.channel_id or ""
        drafts = {d.network: d for d in desk.store.drafts(incident.id)}

        self.step("2. The paged owners acknowledge from their DMs")
        self.pause()
        for name in ("anna", "chen", "dewi", "eli"):
            dm = self.emu.dm_channel_of(self.people[name])
            message = self.emu.dms(self.people[name])[-1]
            self.click(name, say("button.acknowledge"), "acknowledge", channel_id=dm, ts=message["ts"])

        self.step("3. Bram pauses all scheduled posts and ticks it off")
        header_ts = desk.store.delivery(f"{incident.id}:header") or ""
        self.click("bram", say("button.done"), "checklist_done", channel_id=channel, ts=header_ts)

        self.step("4. Chen (legal) tightens the X draft")
        self.pause()
        x = drafts["x"]
        self.click("chen", say("button.edit"), "draft_edit", channel_id=channel, ts=x.message_ts or "")
        view = self.emu.open_view(self.people["chen"])
        new_text = desk.store.draft(x.id).text.replace("  ", " ")
        new_text = _legal_edit(new_text, self.language)
        self.console.print(f"[bold magenta]@chen[/] saves a new version in the form:\n  [italic]{new_text}[/]")
        self.emu.submit_view(self.people["chen"], view["id"],
                             {"text": {"value": {"type": "plain_text_input", "value": new_text}}})
        self.show_new()

        self.step("5. Gijs, an intern, tries to approve — refused, and it is on the timeline")
        self.click("gijs", say("button.approve"), "draft_approve", channel_id=channel, ts=x.message_ts or "")

        self.step("6. The crisis lead and legal approve every draft")
        self.pause()
        for draft in drafts.values():
            for name in ("anna", "chen"):
                self.click(name, say("button.approve"), "draft_approve", channel_id=channel, ts=draft.message_ts or "")

        self.step("7. Bram posts the X reply and marks it as posted: the countdown stops")
        self.pause()
        self.click("bram", say("button.mark_posted"), "draft_mark_posted", channel_id=channel, ts=x.message_ts or "")
        return self.summary(incident.id)

    def summary(self, incident_id: int) -> int:
        desk = self.local.desk
        incident = desk.store.incident(incident_id)
        self.console.print()
        self.console.print(Rule("[bold]Summary[/bold]", style="green"))
        if incident.first_response_at is None:
            self.console.print("[red]No public response was posted.[/red]")
            return 1
        took = incident.first_response_at - incident.detected_at
        target = incident.first_response_due - incident.detected_at
        verdict = "[green]within[/green]" if took <= target else "[red]over[/red]"
        tz = desk.settings.tz
        self.console.print(
            f"{incident.code}: first public response at {local_time(incident.first_response_at, self.language, tz)}, "
            f"{duration(took, self.language)} after detection — {verdict} the "
            f"{duration(target, self.language)} target.")
        events = desk.store.events(incident.id)
        self.console.print(f"Timeline: {len(events)} events; Web API calls made by the bot: {len(self.emu.calls)}.")
        return 0


def _legal_edit(text: str, language: str) -> str:
    """Legal's edit in the demo: no speculation, keep it within X's limit."""
    marker = " (details follow)" if language == "en" else " (details volgen)"
    return text if len(text) + len(marker) > 270 else text + marker


def run_demo(language: str = "en", speed: float = 60.0, transcript: Path | None = None,
             console: Console | None = None) -> int:
    """Play the demo; returns the exit code (0 when the first response was posted)."""
    console = console or Console(record=transcript is not None, highlight=False)
    console.print(f"[bold]Crisis Desk demo[/bold] — language {language}, clock ×{speed:g}, "
                  "Slack emulator on 127.0.0.1 (no Slack account, no network)")
    with start_local(clock=SystemClock(speed), environ={"CRISISBOT_LANGUAGE": language}) as local:
        code = DemoScript(local, console, language, speed).run()
    if transcript is not None:
        transcript.write_text(console.export_text(), encoding="utf-8")
        console.print(f"transcript written to {transcript}")
    return code
