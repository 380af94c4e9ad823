"""Settings: the company profile from `crisisbot.yaml` plus the environment variables listed in the README.

Precedence: environment variables over the file over built-in defaults. With no config file the bot
runs on the playbooks and messages shipped inside the package, for a neutral company.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError, not_utf8
from bot.ids import LANGUAGES, NETWORKS, Language, NetworkId, RoleId
from bot.yamlload import compose_yaml, load_yaml

PACKAGE_DIR = Path(__file__).resolve().parent


def default_dir(name: str) -> Path:
    """Where the shipped defaults live: inside the wheel, or at the top of a source checkout."""
    installed = PACKAGE_DIR / "defaults" / name
    return installed if installed.exists() else PACKAGE_DIR.parent / name


SLACK_MEMBER = re.compile(r"^[UW][A-Z0-9]+$")
ENTRA_OBJECT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _person_id(value: object) -> str:
    """A Slack member id (`U0ANNA`) or a Teams person's Entra object id (a GUID): the core's person ids.

    Entra ids are case-insensitive; they are kept lower-case, as Teams sends `aadObjectId`, so one person is one id.
    """
    if not isinstance(value, str):
        raise ValueError("a person is a Slack member id (e.g. U0ANNA) or an Entra object id (a GUID)")
    if SLACK_MEMBER.fullmatch(value):
        return value
    if ENTRA_OBJECT.fullmatch(value.strip().lower()):
        return value.strip().lower()
    raise ValueError(
        f"{value[:60]!r} is neither a Slack member id (e.g. U0ANNA) nor an Entra object id "
        "(a GUID like 8c0f3a52-1d2e-4b7a-9c3d-5e6f7a8b9c0d)"
    )


PersonId = Annotated[str, BeforeValidator(_person_id)]


class Company(BaseModel):
    """The one company whose plan this is."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=80)] = "Our company"
    industry: str = "general"
    channels: list[NetworkId] = Field(default_factory=lambda: list(NETWORKS), min_length=1)
    hashtag: Annotated[str, Field(pattern=r"^#\w{1,60}$")] = "#Update"
    faq_url: str = ""
    plan_url: str = ""  # where the team keeps the written plan (an intranet page, a shared drive)
    language: Language = "en"
    timezone: str = "Europe/Amsterdam"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}; use an IANA name like Europe/Amsterdam") from exc
        return value

    @field_validator("channels")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


SOURCE_ID = r"^[a-z][a-z0-9_-]{0,39}$"


AlertField = Literal[
    "alert_key", "title", "text", "url", "network", "author", "reach", "sentiment", "matched_keywords", "detected_at"
]
FieldPath = Annotated[str, Field(pattern=r"^[A-Za-z0-9_@$-]+(\.[A-Za-z0-9_@$-]+)*$", max_length=200)]


class Mapping(BaseModel):
    """How another tool's JSON maps onto the generic alert: each alert field from a dotted path in the payload;
    `items`, when set, is the path of a list of documents (one alert each), as a streaming webhook sends them."""

    model_config = ConfigDict(extra="forbid")
    items: FieldPath | None = None
    fields: dict[AlertField, FieldPath]

    @field_validator("fields")
    @classmethod
    def _required_fields(cls, fields: dict[str, str]) -> dict[str, str]:
        missing = [name for name in ("alert_key", "title", "detected_at") if name not in fields]
        if missing:
            raise ValueError(f"map {', '.join(missing)} too: every alert needs a key, a title and a time")
        return fields


class IntakeSource(BaseModel):
    """One monitoring tool allowed to send alerts to `POST /intake/<source>`, with its own shared secret."""

    model_config = ConfigDict(extra="forbid")
    secret: SecretStr | None = None  # or INTAKE_SECRET_<SOURCE> in the environment; never logged
    # generic: the README's alert; meltwater: a Meltwater-style streaming webhook; mapped: `mapping` says how
    format: Literal["generic", "meltwater", "mapped"] = "generic"
    mapping: Mapping | None = None
    cards_per_window: int = Field(default=5, gt=0, le=100)  # new triage cards per rate window; the rest held back

    @model_validator(mode="after")
    def _mapping_when_mapped(self) -> IntakeSource:
        if (self.format == "mapped") != (self.mapping is not None):
            raise ValueError("format: mapped needs a mapping (and only it takes one)")
        return self


class Intake(BaseModel):
    """Monitoring alerts in: the sources, and how alerts group into one triage card."""

    model_config = ConfigDict(extra="forbid")
    sources: dict[Annotated[str, Field(pattern=SOURCE_ID)], IntakeSource] = Field(default_factory=dict)
    group_minutes: int = Field(default=30, gt=0, le=24 * 60)  # related alerts this close join one card
    rate_window_minutes: int = Field(default=10, gt=0, le=24 * 60)
    watch_channel: str | None = None  # Slack: the channel id triage cards go to (or SLACK_WATCH_CHANNEL)


class FileConfig(BaseModel):
    """What `crisisbot.yaml` may hold."""

    model_config = ConfigDict(extra="forbid")
    company: Company = Field(default_factory=Company)
    scenarios: list[str] | None = None
    playbooks: str | None = None
    messages: str | None = None
    database: str | None = None
    announcements_channel: str | None = None
    role_owners: dict[RoleId, list[PersonId]] = Field(default_factory=dict)
    admins: list[PersonId] = Field(default_factory=list)  # may always change role owners, like the crisis lead
    intake: Intake = Field(default_factory=Intake)


IncidentSpace = Literal["thread", "channel"]  # TEAMS_INCIDENT_SPACE


def _env(*names: str, **constraints: Any) -> Any:
    return Field(default=None, validation_alias=AliasChoices(*names), **constraints)


class EnvSettings(BaseSettings):
    """The environment variables of the README's configuration table; unset ones stay None."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=False)
    config: str | None = _env("CRISISBOT_CONFIG")
    slack_bot_token: SecretStr | None = _env("SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = _env("SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = _env("SLACK_APP_TOKEN")
    slack_api_url: str | None = _env("SLACK_API_URL")
    db: str | None = _env("CRISISBOT_DB")
    playbooks: str | None = _env("CRISISBOT_PLAYBOOKS")
    messages: str | None = _env("CRISISBOT_MESSAGES")
    language: Language | None = _env("CRISISBOT_LANGUAGE")
    clock_speed: float | None = _env("CRISISBOT_CLOCK_SPEED", gt=0, allow_inf_nan=False)
    port: int | None = _env("PORT", gt=0, lt=65536)
    announcements_channel: str | None = _env("CRISISBOT_ANNOUNCEMENTS_CHANNEL")
    # Microsoft Teams: the Agents SDK's own variable names for the bot's Entra app, so one .env serves both.
    teams_app_id: str | None = _env("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID")
    teams_app_password: SecretStr | None = _env("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET")
    teams_tenant_id: str | None = _env("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID")
    teams_anonymous: bool | None = _env("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED")
    teams_crisis_channel: str | None = _env("TEAMS_CRISIS_CHANNEL")
    teams_team_id: str | None = _env("TEAMS_TEAM_ID")
    teams_service_url: str | None = _env("TEAMS_SERVICE_URL")
    teams_port: int | None = _env("TEAMS_PORT", gt=0, lt=65536)
    teams_public_url: str | None = _env("TEAMS_PUBLIC_URL")
    teams_login_url: str | None = _env("TEAMS_LOGIN_URL")
    teams_incident_space: IncidentSpace | None = _env("TEAMS_INCIDENT_SPACE")
    teams_graph_url: str | None = _env("TEAMS_GRAPH_URL")
    teams_watch_channel: str | None = _env("TEAMS_WATCH_CHANNEL")
    slack_watch_channel: str | None = _env("SLACK_WATCH_CHANNEL")
    intake_port: int | None = _env("INTAKE_PORT", gt=0, lt=65536)


TEAMS_SERVICE_URL = "https://smba.trafficmanager.net/teams/"
TEAMS_GRAPH_URL = "https://graph.microsoft.com/v1.0/"


class Settings(BaseModel):
    """Everything the bot needs, resolved: paths absolute, env applied over the file."""

    model_config = ConfigDict(frozen=True)
    config_path: Path | None
    company: Company
    scenarios: list[str] | None
    playbooks_dir: Path
    messages_dir: Path
    db_path: Path
    announcements_channel: str | None
    role_owners: dict[str, list[str]]
    admins: list[str] = Field(default_factory=list)
    slack_bot_token: SecretStr | None
    slack_signing_secret: SecretStr | None
    slack_app_token: SecretStr | None
    slack_api_url: str
    clock_speed: float = Field(gt=0)
    port: int
    # Microsoft Teams (bot/teams/): the README's Teams table. Unset, `crisisbot serve` serves Slack only.
    teams_app_id: str | None = None
    teams_app_password: SecretStr | None = None
    teams_tenant_id: str | None = None
    teams_anonymous: bool = False  # local runs only: requests without a token are let in (a warning at start-up)
    teams_crisis_channel: str | None = None  # `19:…@thread.tacv2`: incident threads start here
    teams_team_id: str | None = None  # that channel's team, for member look-ups
    teams_service_url: str = TEAMS_SERVICE_URL  # the last one an activity brought wins (platform_refs)
    teams_port: int = 3978
    teams_public_url: str | None = None  # the bot's public https base, for report downloads
    teams_login_url: str | None = None  # emulator/local only: token endpoint and signing keys
    # Where an incident lives in Teams: a thread in the crisis channel (no Graph permission), or a channel of its own
    # made through Microsoft Graph (RSC Channel.Create.Group; without the grant a declare falls back to a thread).
    teams_incident_space: IncidentSpace = "thread"
    teams_graph_url: str = TEAMS_GRAPH_URL  # Microsoft Graph's base (the emulator's in tests; a national cloud's)
    # Monitoring alerts (bot/intake/): the sources and their secrets, where triage cards go, the intake's port.
    intake: Intake = Field(default_factory=Intake)
    intake_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    slack_watch_channel: str | None = None
    teams_watch_channel: str | None = None
    intake_port: int = 3100

    @property
    def slack_configured(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

    @property
    def teams_configured(self) -> bool:
        """An app id with its secret, or anonymous local mode (the emulator, the Agents Playground)."""
        return bool(self.teams_app_id and (self.teams_app_password or self.teams_anonymous))

    @property
    def watch_platform(self) -> str | None:
        """Where triage cards go: Slack's watch channel when one is set, else Teams', else nowhere yet."""
        if self.slack_watch_channel:
            return "slack"
        return "teams" if self.teams_watch_channel else None

    def watch_channel(self, platform: str) -> str | None:
        return self.slack_watch_channel if platform == "slack" else self.teams_watch_channel

    @property
    def language(self) -> str:
        return self.company.language

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.company.timezone)


def load_settings(config: Path | str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read the config file (explicit path, CRISISBOT_CONFIG, or ./crisisbot.yaml) and the environment."""
    environ = dict(os.environ if environ is None else environ)
    try:
        env = EnvSettings.model_validate({k: v for k, v in environ.items() if k.isupper()})
    except ValidationError as exc:
        raise ConfigError([f"environment: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]) from None
    path = _config_path(config, env)
    file = read_config_file(path) if path else FileConfig()
    base = path.parent if path else Path.cwd()
    company = file.company
    if env.language:
        company = company.model_copy(update={"language": env.language})
    return Settings(
        config_path=path,
        company=company,
        scenarios=file.scenarios,
        playbooks_dir=_resolve(env.playbooks or file.playbooks, base, default_dir("playbooks")),
        messages_dir=_resolve(env.messages or file.messages, base, default_dir("messages")),
        db_path=_resolve(env.db or file.database, base, Path.cwd() / "crisisbot.db"),
        announcements_channel=env.announcements_channel or file.announcements_channel,
        role_owners={k: list(v) for k, v in file.role_owners.items()},
        admins=list(file.admins),
        slack_bot_token=env.slack_bot_token,
        slack_signing_secret=env.slack_signing_secret,
        slack_app_token=env.slack_app_token,
        slack_api_url=_api_url(env.slack_api_url or "https://slack.com/api/"),
        clock_speed=1.0 if env.clock_speed is None else env.clock_speed,
        port=3000 if env.port is None else env.port,
        **_teams(env),
        **_intake(file.intake, env, environ),
    )


def _intake(intake: Intake, env: EnvSettings, environ: dict[str, str]) -> dict[str, Any]:
    """The intake settings: INTAKE_SECRET_<SOURCE> (upper case, `-` as `_`) wins over the file's secret."""
    secrets: dict[str, SecretStr] = {}
    for source, config in intake.sources.items():
        secret = environ.get(f"INTAKE_SECRET_{source.upper().replace('-', '_')}")
        if secret:
            secrets[source] = SecretStr(secret)
        elif config.secret is not None and config.secret.get_secret_value():
            secrets[source] = config.secret
    given: dict[str, Any] = {
        "intake": intake,
        "intake_secrets": secrets,
        "slack_watch_channel": env.slack_watch_channel or intake.watch_channel,
        "teams_watch_channel": env.teams_watch_channel,
    }
    if env.intake_port is not None:
        given["intake_port"] = env.intake_port
    return given


def _teams(env: EnvSettings) -> dict[str, Any]:
    """The Teams settings; the unset ones keep Settings' defaults."""
    names = (
        *("app_id", "app_password", "tenant_id", "anonymous", "crisis_channel", "team_id", "public_url", "login_url"),
        "incident_space",
    )
    given = {f"teams_{name}": getattr(env, f"teams_{name}") for name in names}
    given["teams_service_url"] = _api_url(env.teams_service_url) if env.teams_service_url else None
    given["teams_graph_url"] = _api_url(env.teams_graph_url) if env.teams_graph_url else None
    given["teams_port"] = env.teams_port
    return {key: value for key, value in given.items() if value is not None}


def describe_start(settings: Settings) -> str:
    """One start-up line: where config comes from and which platforms are set up, never a token or secret."""
    source = str(settings.config_path) if settings.config_path else "built-in defaults (no crisisbot.yaml found)"
    teams = "not configured"
    if settings.teams_configured:
        teams = f"app {settings.teams_app_id}, port {settings.teams_port}, Bot Connector {settings.teams_service_url}"
        teams += ", incidents in a channel each (Graph)" if settings.teams_incident_space == "channel" else ""
        teams += ", anonymous (local only)" if settings.teams_anonymous else ""
    return (
        f"config: {source}; playbooks: {settings.playbooks_dir}; database: {settings.db_path}; "
        f"language: {settings.language}; Slack API: {settings.slack_api_url}; Teams: {teams}; "
        f"clock speed: {settings.clock_speed}"
    )


def _config_path(explicit: Path | str | None, env: EnvSettings) -> Path | None:
    if explicit or env.config:
        path = Path(explicit or env.config or "").expanduser().resolve()
        if not path.is_file():
            raise ConfigError(
                [
                    f"{path}:1: config file not found — run `crisisbot init` to write one, "
                    "or unset CRISISBOT_CONFIG to run on the defaults"
                ]
            )
        return path
    local = Path.cwd() / "crisisbot.yaml"
    return local if local.is_file() else None


def read_config_file(path: Path) -> FileConfig:
    """Parse and validate `crisisbot.yaml`, reporting every problem with its line."""
    from bot.playbooks import _line_of  # one YAML-line locator for every file we validate

    try:
        text = path.read_text(encoding="utf-8")
        node = compose_yaml(text)
        data = load_yaml(text) or {}
    except OSError as exc:
        raise ConfigError([f"{path}:1: cannot read the config ({exc.strerror})"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([not_utf8(path, exc)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError([f"{path}:{line}: malformed YAML — fix the indentation/quoting"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: the config is a mapping — start with `company:`"])
    try:
        return FileConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = list(err["loc"])
            where = ".".join(map(str, loc))
            hint = f" — valid: {err['ctx']['expected']}" if err["type"] == "literal_error" else ""
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "literal_error":  # pydantic's message repeats the valid list the hint gives
                msg = f"unknown value {err['input']!r}"
            problems.append(f"{path}:{_line_of(node, loc)}: {where}: {msg}{hint}")
        raise ConfigError(problems) from exc


def _resolve(value: str | None, base: Path, default: Path) -> Path:
    if not value:
        return default
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _api_url(url: str) -> str:
    # slack_sdk joins base_url and method name by plain concatenation, so the slash matters.
    return url if url.endswith("/") else url + "/"


__all__ = ["LANGUAGES", "Company", "FileConfig", "Settings", "default_dir", "describe_start", "load_settings"]
