"""The `crisisbot` command: parse, call the library, print. Domain errors become exit code 2 here."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from pydantic import ValidationError
from rich.console import Console

from bot.config import Company, default_dir, load_settings
from bot.errors import ConfigError, CrisisError, SchemaError
from bot.ids import LANGUAGES, NETWORKS

app = typer.Typer(
    help="Crisis Desk: run your social-media crisis-communication plan in Slack.\n\nExample: crisisbot demo",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="crisisbot.yaml to use (default: $CRISISBOT_CONFIG or ./crisisbot.yaml)"),
]


def _friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the domain's errors into a clear message and exit code 2, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for problem in exc.problems:
                err.print(problem, markup=False)
            raise typer.Exit(2) from None
        except (SchemaError, CrisisError) as exc:
            err.print(str(exc), markup=False)
            raise typer.Exit(2) from None

    return wrapper


@app.command()
@_friendly
def init(
    directory: Annotated[
        Path, typer.Option("--dir", help="where to write crisisbot.yaml, playbooks/ and messages/")
    ] = Path("."),
    company: Annotated[str | None, typer.Option(help="company name, e.g. 'Acme'")] = None,
    industry: Annotated[str | None, typer.Option(help="industry, e.g. 'logistics'")] = None,
    channels: Annotated[
        str | None, typer.Option(help="social channels in use, comma-separated: x,facebook,linkedin")
    ] = None,
    language: Annotated[str | None, typer.Option(help="default language: en or nl")] = None,
    hashtag: Annotated[str | None, typer.Option(help="fixed crisis hashtag (default #Update<Company>)")] = None,
    faq_url: Annotated[str | None, typer.Option(help="FAQ or status page URL")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA timezone (default Europe/Amsterdam)")] = None,
    scenarios: Annotated[str | None, typer.Option(help="scenarios to enable, comma-separated (default: all)")] = None,
    role_owner: Annotated[
        list[str] | None,
        typer.Option(
            "--role-owner",
            help="seed a role's owner and backups by Slack member id, e.g. --role-owner crisis_lead=U0ANNA,U0BRAM "
            "(repeatable; /crisis roles set changes them later)",
        ),
    ] = None,
    admins: Annotated[
        str | None,
        typer.Option(help="Slack member ids who may always change role owners, comma-separated, e.g. U0ANNA,U0IT"),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="don't ask; use the options and defaults")] = False,
    force: Annotated[bool, typer.Option(help="overwrite an existing crisisbot.yaml, playbooks/ and messages/")] = False,
) -> None:
    """Write crisisbot.yaml and editable copies of the default playbooks and messages.

    Example: crisisbot init --company Acme --industry logistics --channels x,linkedin --language nl --yes
    """
    from bot.init import write_project

    available = sorted(p.stem for p in default_dir("playbooks").glob("*.yaml"))

    def ask(value: str | None, prompt: str, default: str) -> str:
        return value if value is not None else (default if yes else typer.prompt(prompt, default=default))

    name = ask(company, "Company name", "Our company")
    answers = {
        "name": name,
        "industry": ask(industry, "Industry", "general"),
        "channels": _split(ask(channels, f"Social channels ({','.join(NETWORKS)})", ",".join(NETWORKS))),
        "language": ask(language, f"Default language ({'|'.join(LANGUAGES)})", "en"),
        "hashtag": ask(hashtag, "Fixed crisis hashtag", "#Update" + "".join(ch for ch in name.title() if ch.isalnum())),
        "faq_url": ask(faq_url, "FAQ or status page URL (empty for none)", ""),
        "timezone": ask(timezone, "Timezone", "Europe/Amsterdam"),
    }
    chosen = _split(ask(scenarios, f"Scenarios ({','.join(available)})", ",".join(available)))
    unknown = [s for s in chosen if s not in available]
    if unknown:
        raise ConfigError([f"--scenarios: unknown scenario {unknown[0]!r} — valid: {', '.join(available)}"])
    try:
        profile = Company.model_validate(answers)
    except ValidationError as exc:  # show each field problem plainly, as the option it came from
        raise ConfigError([_option_problem(e) for e in exc.errors()]) from None
    people = _people(role_owner or [], admins or "")
    written = write_project(directory, profile, chosen, force=force, **people)
    for path in written:
        out.print(f"wrote {path}")
    out.print("Next: crisisbot check, then crisisbot plan --output plan.md")
    if not people["role_owners"]:
        out.print("Role owners: seed them under role_owners: in crisisbot.yaml, or type /crisis roles set in Slack.")


def _people(role_owner: list[str], admins: str) -> dict[str, Any]:
    """--role-owner ROLE=U1,U2 … and --admins U1,U2 as the config's `role_owners:` and `admins:`."""
    from bot.config import FileConfig

    owners: dict[str, list[str]] = {}
    for item in role_owner:
        role, sep, users = item.partition("=")
        if not sep or not _split(users):
            raise ConfigError([f"--role-owner: {item!r} is not ROLE=ID[,ID…] — e.g. --role-owner legal=U0CHEN,U0BRAM"])
        owners[role.strip()] = _split(users)
    people = {"role_owners": owners, "admins": _split(admins)}
    try:
        FileConfig.model_validate(people)
    except ValidationError as exc:
        raise ConfigError([_people_problem(e) for e in exc.errors()]) from None
    return people


def _people_problem(error: Any) -> str:
    option = "--admins" if error["loc"][0] == "admins" else "--role-owner"
    if error["type"] == "literal_error":
        return f"{option}: unknown role {error['input']!r} — valid: {error['ctx']['expected']}"
    return f"{option}: {error['input']!r} is not a Slack member id — copy it from the person's profile, e.g. U0ANNA"


def _option_problem(error: Any) -> str:
    field = str(error["loc"][0])
    option = "--" + {"name": "company"}.get(field, field).replace("_", "-")
    if error["type"] == "literal_error":
        return f"{option}: unknown value {error['input']!r} — valid: {error['ctx']['expected']}"
    if error["type"] == "string_pattern_mismatch" and field == "hashtag":
        return f"{option}: {error['input']!r} is not a hashtag — use # and letters or digits, e.g. #UpdateAcme"
    return f"{option}: {error['msg'].removeprefix('Value error, ')}"


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@app.command()
@_friendly
def check(config: ConfigOption = None) -> None:
    """Validate the config, every playbook and every template (both languages, network limits).

    Exit 0 with a summary, or exit 2 listing each problem as file:line: what is wrong — what would be valid.
    Example: crisisbot check --config crisisbot.yaml
    """
    from bot.checks import run_checks

    settings = load_settings(config)
    report = run_checks(settings)
    if not report.ok:
        for problem in report.problems:
            err.print(problem, markup=False)
        err.print(f"{len(report.problems)} problem(s) found.")
        raise typer.Exit(2)
    source = settings.config_path or "built-in defaults"
    out.print(
        f"OK: {source}: {report.playbooks} playbooks, {report.drill_scripts} drill scripts, {report.templates} draft templates, "
        f"{report.ui_strings} UI strings in {', '.join(LANGUAGES)}."
    )


@app.command()
@_friendly
def plan(
    config: ConfigOption = None,
    language: Annotated[str | None, typer.Option(help="en or nl (default: the company's language)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file instead of stdout")] = None,
) -> None:
    """Write the company's crisis-communication plan (Markdown) from the playbooks and templates the bot runs.

    Example: crisisbot plan --language nl --output plan.md
    """
    from jinja2.exceptions import SecurityError

    from bot.messages import Messages
    from bot.plan import render_plan
    from bot.playbooks import load_playbooks
    from bot.store import Store

    settings = load_settings(config)
    language = language or settings.language
    if language not in LANGUAGES:
        raise ConfigError([f"--language: {language!r} is not supported — valid: {', '.join(LANGUAGES)}"])
    books = load_playbooks(settings.playbooks_dir)
    if settings.scenarios:
        books = {k: v for k, v in books.items() if k in settings.scenarios}
    owners = Store(settings.db_path).role_owners() if settings.db_path.exists() else dict(settings.role_owners)
    try:
        text = render_plan(settings, books, Messages(settings.messages_dir), language, role_owners=owners)
    except SecurityError as exc:  # a template tried to reach into Python: refuse, name it
        raise ConfigError(
            [
                f"{settings.messages_dir}/{language}/plan.md.j2:1: unsafe template ({exc}) — "
                "templates may only use the variables they are given"
            ]
        ) from None
    if output:
        output.write_text(text, encoding="utf-8")
        out.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


@app.command()
@_friendly
def report(
    code: Annotated[str, typer.Argument(help="the incident's code, e.g. CR-2026-014")],
    config: ConfigOption = None,
    language: Annotated[str | None, typer.Option(help="en or nl (default: the incident's language)")] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Markdown file to write (default: ./report-<code>.md); the chart goes next to it",
        ),
    ] = None,
) -> None:
    """Write the post-incident evaluation report (Markdown) and its timeline chart (PNG) for one incident.

    Example: crisisbot report CR-2026-014 --language nl --output evaluation.md
    """
    from bot.report import write_report

    _language(language)
    desk = _open_existing(config)
    settings = desk.settings
    try:
        incident = desk.store.incident_by_code(code.strip())
        if incident is None:
            known = [i.code for i in desk.store.incidents()][-5:]
            hint = f"known codes: {', '.join(known)}" if known else "this database has no incidents yet"
            raise ConfigError([f"{code}: no incident with that code in {settings.db_path} — {hint}"])
        markdown, chart = write_report(desk, incident, language or incident.language, output)
    finally:
        desk.store.close()
    out.print(f"wrote {markdown}")
    out.print(f"wrote {chart}")


def _open_existing(config: Path | None) -> Any:
    """The desk on the bot's existing database (a report reads what the bot recorded; it never starts an empty one)."""
    from bot.incidents import open_desk

    settings = load_settings(config)
    if not settings.db_path.exists():
        raise ConfigError(
            [
                f"{settings.db_path}: no database here — point CRISISBOT_DB (or `database:` in "
                "crisisbot.yaml) at the bot's SQLite file"
            ]
        )
    return open_desk(settings)


def _language(language: str | None) -> None:
    if language is not None and language not in LANGUAGES:
        raise ConfigError([f"--language: {language!r} is not supported — valid: {', '.join(LANGUAGES)}"])


# drills: readiness
@app.command()
@_friendly
def drills(
    config: ConfigOption = None,
    language: Annotated[str | None, typer.Option(help="en or nl (default: the company's language)")] = None,
    chart: Annotated[Path | None, typer.Option("--chart", help="also draw the scores over time as this PNG")] = None,
) -> None:
    """Print the history of drill scores per scenario and each role's time to acknowledge, with the trend.

    Example: crisisbot drills --chart readiness.png
    """
    from bot.readiness import draw_chart, readiness, text

    _language(language)
    desk = _open_existing(config)
    try:
        history = readiness(desk)
        lang = language or desk.language
        out.print(text(desk, history, lang), markup=False)
        if chart is not None:
            out.print(f"wrote {draw_chart(desk, history, lang, chart)}")
    finally:
        desk.store.close()


# drills: rehearsal
@app.command()
@_friendly
def drill(
    scenario: Annotated[str, typer.Argument(help="the scenario to rehearse, e.g. data-breach")],
    level: Annotated[int, typer.Option(help="the drill's level: 1, 2 or 3")] = 2,
    speed: Annotated[float, typer.Option(help="clock speed: 60 makes a crisis minute a real second")] = 60.0,
    slow: Annotated[
        list[str] | None,
        typer.Option(
            "--slow", metavar="ROLE=MINUTES", help="a role that answers late, e.g. --slow legal=20 (repeatable)"
        ),
    ] = None,
    away: Annotated[
        list[str] | None, typer.Option("--away", metavar="ROLE", help="a role that never answers (repeatable)")
    ] = None,
    delay: Annotated[float | None, typer.Option(help="minutes everyone else takes to answer (default 3)")] = None,
    people: Annotated[
        Path | None, typer.Option(help="a YAML file of the same: `default: 3`, `slow: {legal: 20}`, `away: [...]`")
    ] = None,
    until: Annotated[float, typer.Option(help="crisis minutes after which the drill ends, posted or not")] = 90.0,
    language: Annotated[str, typer.Option(help="en or nl")] = "en",
    transcript: Annotated[Path | None, typer.Option(help="also write the transcript to this file")] = None,
    platform: Annotated[
        str, typer.Option(help="slack or teams: the built-in Slack emulator or Bot Connector (Teams) emulator")
    ] = "slack",
) -> None:
    """Rehearse a drill offline against the built-in Slack (or Teams) emulator, with simulated people who answer on their own
    delay (or not at all); prints the transcript and the scorecard.

    Example: crisisbot drill data-breach --speed 60 --slow legal=20 --away spokesperson
    """
    from bot.rehearsal import responsiveness, run_rehearsal

    _language(language)
    if platform not in ("slack", "teams"):
        raise ConfigError([f"--platform: {platform!r} is not supported — valid: slack, teams"])
    if level not in (1, 2, 3):
        raise ConfigError([f"--level: {level} does not exist — valid: 1, 2, 3"])
    cast = responsiveness(slow or [], away or [], people, delay)
    code = run_rehearsal(scenario, level, speed, cast, until, language, transcript, platform=platform)
    raise typer.Exit(code)


@app.command()
@_friendly
def serve(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="address to listen on (HTTP mode)")] = "0.0.0.0",
    port: Annotated[int | None, typer.Option(help="Slack's port (default $PORT or 3000)")] = None,
    platform: Annotated[
        str | None,
        typer.Option(help="slack, teams or both (default: each platform whose credentials are set)"),
    ] = None,
) -> None:
    """Run the bot. Slack: HTTP at POST /slack/events (and GET /healthz), or Socket Mode when SLACK_APP_TOKEN is
    set; needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET. Teams: POST /api/messages on $TEAMS_PORT (default 3978);
    needs the CONNECTIONS__SERVICE_CONNECTION__SETTINGS__* variables. One process may serve both.

    Example: PORT=3000 crisisbot serve --platform both
    """
    from bot.incidents import open_desk
    from bot.logs import setup_logging
    from bot.serving import Choice
    from bot.serving import serve as run

    if platform not in (None, "slack", "teams", "both"):
        raise ConfigError([f"--platform: unknown platform {platform!r} — valid: slack, teams or both"])
    setup_logging()
    settings = load_settings(config)
    if port is not None:
        settings = settings.model_copy(update={"port": port})
    desk = open_desk(settings)
    desk.store.check_writable()
    run(desk, platform=cast(Choice, platform), host=host)  # checked above


@app.command()
@_friendly
def manifest(
    url: Annotated[
        str | None, typer.Option(help="public base URL of `crisisbot serve`, e.g. https://crisis.example.com")
    ] = None,
) -> None:
    """Print the Slack app manifest, with request URLs pointing at --url.

    Paste it at api.slack.com/apps → Create New App → From a manifest. Example: crisisbot manifest --url https://crisis.example.com
    """
    from bot.manifest import render_manifest

    sys.stdout.write(render_manifest(url))


@app.command("teams-package")
@_friendly
def teams_package(
    app_id: Annotated[
        str | None,
        typer.Option(
            help="the Entra app (bot) id, a GUID (default: $CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID)"
        ),
    ] = None,
    domain: Annotated[
        str | None, typer.Option(help="the bot's public host, e.g. crisis.example.com (default: $TEAMS_PUBLIC_URL's)")
    ] = None,
    dedicated_channels: Annotated[
        bool,
        typer.Option(
            "--dedicated-channels",
            help="ask for the RSC permissions Channel.Create.Group and ChannelSettings.Read.Group: with "
            "TEAMS_INCIDENT_SPACE=channel, a channel per incident instead of a thread",
        ),
    ] = False,
    website: Annotated[
        str | None,
        typer.Option(
            help="https page for the app's developer, privacy and terms links (default: the config's plan_url)"
        ),
    ] = None,
    app_version: Annotated[
        str | None,
        typer.Option(help="the package's version, three numbers; raise it for each re-upload (default: crisisbot's)"),
    ] = None,
    output: Annotated[Path, typer.Option("--out", help="where to write the zip")] = Path("crisis-desk-teams.zip"),
    config: ConfigOption = None,
) -> None:
    """Build the Teams app package (manifest.json, icons, Dutch strings), checked against Microsoft's schema.

    Upload the zip in the Teams admin center (Teams apps → Manage apps → Upload new app) or with Teams'
    "Upload a custom app". Example: crisisbot teams-package --app-id <client id> --domain crisis.example.com
    """
    from bot.teams.package import PackageRequest, build_package

    if website is not None and not website.startswith("https://"):
        raise ConfigError(
            [f"--website: {website[:80]!r} is not an https URL — e.g. https://intranet.example.com/crisis"]
        )
    settings = load_settings(config)
    request = PackageRequest(
        app_id=app_id or settings.teams_app_id,
        domain=domain or settings.teams_public_url,
        dedicated_channels=dedicated_channels,
        developer=settings.company.name,
        website=website or settings.company.plan_url,
        app_version=app_version,
    )
    path = build_package(request, output)
    mode = (
        "a channel per incident (Channel.Create.Group) with TEAMS_INCIDENT_SPACE=channel"
        if dedicated_channels
        else "a thread per incident"
    )
    out.print(f"wrote {path} ({mode}); upload it in Teams or the Teams admin center", markup=False)


@app.command()
@_friendly
def demo(
    language: Annotated[str, typer.Option(help="en or nl")] = "en",
    speed: Annotated[float, typer.Option(help="clock speed: 60 makes the 1-hour target pass in a minute")] = 60.0,
    transcript: Annotated[Path | None, typer.Option(help="also write the transcript to this file")] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="where to write the evaluation report (default: ./report-CR-<year>-001.md and .png)"),
    ] = None,
    platform: Annotated[
        str, typer.Option(help="slack or teams: the built-in Slack emulator or Bot Connector (Teams) emulator")
    ] = "slack",
) -> None:
    """Play a data-breach crisis for the demo company Acme against the built-in Slack emulator (or, with
    --platform teams, the built-in Microsoft Teams Bot Connector emulator): no account, no network. About 50
    seconds at the default speed.

    Example: crisisbot demo --language nl --platform teams
    """
    from bot.demo import run_demo

    if language not in LANGUAGES:
        raise ConfigError([f"--language: {language!r} is not supported — valid: {', '.join(LANGUAGES)}"])
    if platform not in ("slack", "teams"):
        raise ConfigError([f"--platform: {platform!r} is not supported — valid: slack, teams"])
    raise typer.Exit(run_demo(language=language, speed=speed, transcript=transcript, report=report, platform=platform))


@app.command()
@_friendly
def bench(
    quick: Annotated[bool, typer.Option("--quick", help="a ~30 s smoke run with smaller numbers")] = False,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only", metavar="NAME", help="run only this benchmark (repeatable): ack, declare, load, startup, timers"
        ),
    ] = None,
) -> None:
    """Measure the bot against the built-in Slack emulator: ack latency, declare round trips, load, start-up, timers.

    Prints a table and saves JSON under bench/ (needs the source checkout). Example: crisisbot bench --quick --only ack
    """
    try:
        from bench import main as run_bench
        from bench.run import BENCHMARKS
    except ImportError:
        raise ConfigError(
            ["crisisbot bench: the bench/ folder is not importable — run it from the source checkout (python -m bench)"]
        ) from None

    unknown = [name for name in only or [] if name not in BENCHMARKS]
    if unknown:
        raise ConfigError([f"--only: unknown benchmark {unknown[0]!r} — valid: {', '.join(BENCHMARKS)}"])
    args = ["--quick"] if quick else []
    for name in only or []:
        args += ["--only", name]
    raise typer.Exit(run_bench(args))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
