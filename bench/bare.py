"""Bare Bolt apps that only ack `/crisis`: the references of bench/ack.py, each in a process of its own.

`python -m bench.bare waitress serve --host 127.0.0.1 --port N` runs sync Bolt on waitress (16 threads,
slack_bolt's WSGI adapter: the bot's own stack); `python -m bench.bare async serve …` runs async Bolt
(AsyncApp) on uvicorn. The arguments are those bot/sandbox/process.py's ServeProcess gives `crisisbot`, so
the benchmark starts, health-checks and stops them exactly like `crisisbot serve`; both answer GET /healthz.
The secret, token and Web API URL come from the environment, as the bot's do. uvicorn and aiohttp are bench-only
dependencies: `pip install -e ".[bench]"`.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

HEALTH = json.dumps({"ok": True}).encode()


def waitress_app(slack: dict[str, str], host: str, port: int) -> None:
    from slack_bolt import Ack, App
    from slack_sdk import WebClient
    from waitress import serve

    from bot.slack.server import wsgi_app

    app = App(
        signing_secret=slack["secret"],
        client=WebClient(token=slack["token"], base_url=slack["api"]),
        token_verification_enabled=False,
    )

    @app.command("/crisis")
    def crisis(ack: Ack) -> None:
        ack()

    serve(wsgi_app(app), host=host, port=port, threads=16, ident="bare-bolt")


def async_app(slack: dict[str, str], host: str, port: int) -> None:
    import uvicorn
    from slack_bolt.adapter.asgi.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    app = AsyncApp(signing_secret=slack["secret"], client=AsyncWebClient(token=slack["token"], base_url=slack["api"]))

    @app.command("/crisis")
    async def crisis(ack: AsyncAck) -> None:
        await ack()

    bolt = AsyncSlackRequestHandler(app)

    async def application(scope: dict[str, Any], receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
        if scope["type"] == "http" and scope["path"] == "/healthz":
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(HEALTH)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": HEALTH})
            return
        await bolt(scope, receive, send)

    uvicorn.run(application, host=host, port=port, log_level="warning", lifespan="off", access_log=False)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare")
    parser.add_argument("kind", choices=("waitress", "async"))
    parser.add_argument("command", choices=("serve",))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    slack = {
        "secret": os.environ["SLACK_SIGNING_SECRET"],
        "token": os.environ["SLACK_BOT_TOKEN"],
        "api": os.environ["SLACK_API_URL"],  # auth.test, once: the emulator
    }
    (waitress_app if args.kind == "waitress" else async_app)(slack, args.host, args.port)


if __name__ == "__main__":
    main()
