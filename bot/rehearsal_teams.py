"""The simulated people of an offline rehearsal on the Teams emulator (bot/rehearsal.py's `Players`), with
bot/demo_teams.py's hands: messages to the bot, card actions, the resolve dialog."""

from __future__ import annotations

from bot.demo_teams import TeamsDemoScript
from bot.models import Draft, Incident


class TeamsPlayers(TeamsDemoScript):
    def setup(self) -> None:
        """The Teams demo company's crisisbot.yaml seeds the role owners (by Entra object id)."""
        self.show_new()

    def start(self, who: str, text: str) -> None:
        self.type(who, text, self.emu.crisis_channel)

    def press(self, who: str, draft: Draft, incident: Incident, action: str, label: str) -> None:
        self.click(who, label, draft.message_ref or "", action)

    def end(self, incident: Incident) -> None:
        room = incident.room_ref or ""
        self.type("anna", "resolve", room)
        self.acts("anna", "demo.fills_resolve")
        self.dialog("anna", self.last_card(room), room, self.resolve_values(incident))

    def resolve_values(self, incident: Incident) -> dict[str, str]:
        return {key: self.say(f"rehearsal.resolve_{key}") for key in ("summary", "impact", "lessons")}
