"""Microsoft Teams: the second platform adapter (wiring, the port on the Bot Connector, the Adaptive Card
renderer), on the Microsoft 365 Agents SDK. Only Teams lives here; policy is bot/chat's (docs/architecture.md)."""
