"""The platform-neutral application layer: what the bot decides between the core and a chat platform.

It talks to a platform only through the port (`bot/chat/port.py`) and builds neutral messages
(`bot/chat/message.py`) that each platform's renderer turns into its own markup. See docs/architecture.md.
"""
