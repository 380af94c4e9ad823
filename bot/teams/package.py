"""The Teams app package: appPackage/manifest.json with the app id and the bot's domain filled in, checked against
Microsoft's manifest schema (vendored), zipped flat with the icons and the Dutch localization.

What an admin uploads to Teams ("Upload a custom app", or the Teams admin center); `crisisbot teams-package`."""

from __future__ import annotations

import json
import re
import struct
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError

from bot.config import PACKAGE_DIR
from bot.errors import ConfigError

SCHEMAS = PACKAGE_DIR / "sandbox" / "schemas"
MANIFEST_SCHEMA = SCHEMAS / "teams-manifest-1.30.json"
LOCALIZATION_SCHEMA = SCHEMAS / "teams-localization-1.30.json"
# Teams refuses a package whose icons are not exactly these sizes.
ICONS = {"color.png": (192, 192), "outline.png": (32, 32)}
LOCALIZATIONS = ("nl.json",)
# Dedicated-channel mode creates a channel per incident through Graph, and after a crash finds it again by name:
# resource-specific consent, granted by a team owner when the app is added to the team (no tenant-wide permission).
RSC_CHANNEL_CREATE = {"name": "Channel.Create.Group", "type": "Application"}
RSC_CHANNEL_READ = {"name": "ChannelSettings.Read.Group", "type": "Application"}
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN = re.compile(rf"^{LABEL}(?:\.{LABEL})*(?::[0-9]{{1,5}})?$")
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")  # the schema's, without leading zeros
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
APP_ID_SOURCE = "--app-id (or CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID)"
DOMAIN_SOURCE = "--domain (or TEAMS_PUBLIC_URL)"


@dataclass(frozen=True)
class PackageRequest:
    app_id: str | None
    domain: str | None  # a host, or a URL whose host is taken (TEAMS_PUBLIC_URL)
    dedicated_channels: bool = False
    developer: str = "Crisis Desk"
    website: str = ""  # where the developer/privacy/terms links point; default https://<domain>/
    app_version: str | None = None  # default: the crisisbot release


def app_package_dir() -> Path:
    """appPackage/ inside the installed wheel, or beside bot/ in a source checkout (like the Slack manifest)."""
    for path in (PACKAGE_DIR / "defaults" / "appPackage", PACKAGE_DIR.parent / "appPackage"):
        if (path / "manifest.json").is_file():
            return path
    raise ConfigError(["appPackage/manifest.json: not found in the installed package — reinstall crisisbot"])


def build_package(request: PackageRequest, out: Path, source: Path | None = None) -> Path:
    """Fill, validate and zip the package; nothing is written unless every check passes."""
    source = source or app_package_dir()
    manifest = fill_manifest(_read_json(source / "manifest.json"), request)
    problems = validation_problems(manifest, MANIFEST_SCHEMA, "manifest.json")
    files = {name: (source / name).read_bytes() for name in (*ICONS, *LOCALIZATIONS) if (source / name).is_file()}
    problems += _missing(files) + _icon_problems(files)
    problems += _localization_problems(files)
    if problems:
        raise ConfigError(problems)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        # Flat: Teams looks for manifest.json and the icons at the zip's root.
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        for name, data in files.items():
            archive.writestr(name, data)
    return out


def fill_manifest(template: dict[str, Any], request: PackageRequest) -> dict[str, Any]:
    app_id = _app_id(request.app_id)
    domain = _domain(request.domain)
    values = {
        "APP_ID": app_id,
        "BOT_DOMAIN": domain,
        "APP_VERSION": _app_version(request.app_version),
        "DEVELOPER_NAME": request.developer[:32],
        "WEBSITE_URL": request.website if request.website.startswith("https://") else f"https://{domain}/",
    }
    text = json.dumps(template)
    for key, value in values.items():
        text = text.replace("${{" + key + "}}", json.dumps(value)[1:-1])
    manifest: dict[str, Any] = json.loads(text)
    if request.dedicated_channels:
        rsc = [dict(RSC_CHANNEL_CREATE), dict(RSC_CHANNEL_READ)]
        manifest["authorization"] = {"permissions": {"resourceSpecific": rsc}}
    return manifest


def validation_problems(document: Any, schema_path: Path, name: str) -> list[str]:
    """Every schema violation as `file: field: what is wrong`, the field written as Teams' docs write it."""
    validator = Draft4Validator(_read_json(schema_path))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{name}: {_field(error) or '(top level)'}: {_short(error)}" for error in errors]


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk (always the first), or None when it is not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _app_id(value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        raise ConfigError([f"{APP_ID_SOURCE}: missing — give the Entra app registration's Application (client) id"])
    if not GUID.match(value):
        raise ConfigError(
            [
                f"{APP_ID_SOURCE}: {value[:60]!r} is not a GUID — the Entra app registration's Application (client) "
                "id looks like 0f8a3c2e-5b1d-4e7a-9c6f-2d4b8a1e7f90"
            ]
        )
    return value.lower()


def _domain(value: str | None) -> str:
    value = (value or "").strip()
    host = urlsplit(value).netloc if "://" in value else value.rstrip("/")
    if not host:
        raise ConfigError([f"{DOMAIN_SOURCE}: missing — give the bot's public host, e.g. crisis.example.com"])
    if not DOMAIN.match(host):
        raise ConfigError(
            [
                f"{DOMAIN_SOURCE}: {value[:80]!r} is not a host name — give the bot's public host, e.g. crisis.example.com"
            ]
        )
    return host.lower()


def _app_version(value: str | None) -> str:
    """The crisisbot release unless given: Teams wants the version raised whenever an updated package is uploaded."""
    if value is not None:
        if not SEMVER.match(value):
            raise ConfigError(
                [f"--app-version: {value[:40]!r} is not a version Teams takes — three numbers, e.g. 1.0.3"]
            )
        return value
    try:
        return version("crisisbot")
    except PackageNotFoundError:
        return "0.1.0"


def _missing(files: dict[str, bytes]) -> list[str]:
    return [f"appPackage/{name}: missing — run python appPackage/draw_icons.py" for name in ICONS if name not in files]


def _icon_problems(files: dict[str, bytes]) -> list[str]:
    problems = []
    for name, wanted in ICONS.items():
        if name not in files:
            continue
        size = png_size(files[name])
        if size is None:
            problems.append(f"appPackage/{name}: not a PNG — Teams needs a {wanted[0]}×{wanted[1]} PNG")
        elif size != wanted:
            problems.append(
                f"appPackage/{name}: {size[0]}×{size[1]} pixels — Teams needs exactly {wanted[0]}×{wanted[1]}"
            )
    return problems


def _localization_problems(files: dict[str, bytes]) -> list[str]:
    problems = []
    for name in LOCALIZATIONS:
        if name not in files:
            continue
        try:
            document = json.loads(files[name])
        except ValueError as exc:
            problems.append(f"appPackage/{name}: not valid JSON — {exc}")
            continue
        problems += validation_problems(document, LOCALIZATION_SCHEMA, name)
    return problems


def _field(error: ValidationError) -> str:
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _short(error: ValidationError) -> str:
    message = error.message
    return message if len(message) <= 200 else message[:199] + "…"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read ({exc.strerror})"]) from None
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{path}:{exc.lineno}: not valid JSON — {exc.msg}"]) from None
