"""Monitoring alerts in: signed webhooks at `POST /intake/<source>` become the core's `accept_alert` calls.

An adapter like bot/slack and bot/teams: it checks the request (signature, replay window, payload), maps the
source's shape onto the generic alert and hands it to bot/incidents/detection.py; the triage card the core
queues is said through the outbox by the chat platform's deliverer (bot/chat/triage.py).
"""
