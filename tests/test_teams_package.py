"""`crisisbot teams-package`: the Teams app package, run as a person would, unzipped and checked against
Microsoft's own manifest and localization schemas (vendored), the icons' sizes, the RSC flag, and bad input."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from PIL import Image

from bot.chat import commands
from bot.config import PACKAGE_DIR
from bot.errors import ConfigError, UsageError
from bot.teams.package import PackageRequest, app_package_dir, build_package
from tests.fixtures_foundation import assert_refused, cli, isolate

SCHEMAS = PACKAGE_DIR / "sandbox" / "schemas"
APP_ID = "0f8a3c2e-5b1d-4e7a-9c6f-2d4b8a1e7f90"
DOMAIN = "crisis.example.com"
TEAMS_ENV = ("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID", "TEAMS_PUBLIC_URL")
# What a person can type to the bot: the grammar's subcommands, `gdpr` as the one phrase it accepts.
EXPECTED_TITLES = sorted(("gdpr notified" if name == "gdpr" else name) for name in commands.SUBCOMMANDS)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate(monkeypatch, tmp_path)  # the Teams variables too: a developer's own app id must not leak in


def _package(tmp_path: Path, *extra: str) -> dict[str, bytes]:
    out = tmp_path / "out" / "app.zip"
    result = cli("teams-package", "--app-id", APP_ID, "--domain", DOMAIN, "--out", out, *extra)
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    with zipfile.ZipFile(out) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _schema_errors(document: Any, schema_file: str) -> list[str]:
    schema = json.loads((SCHEMAS / schema_file).read_text(encoding="utf-8"))
    return [f"{list(e.absolute_path)}: {e.message}" for e in Draft4Validator(schema).iter_errors(document)]


def test_the_package_is_flat_and_valid_against_microsofts_schemas(tmp_path: Path) -> None:
    files = _package(tmp_path)
    assert sorted(files) == ["color.png", "manifest.json", "nl.json", "outline.png"]  # flat: no folders
    manifest = json.loads(files["manifest.json"])
    assert _schema_errors(manifest, "teams-manifest-1.30.json") == []
    assert _schema_errors(json.loads(files["nl.json"]), "teams-localization-1.30.json") == []
    assert manifest["$schema"] == "https://developer.microsoft.com/json-schemas/teams/v1.30/MicrosoftTeams.schema.json"
    assert manifest["manifestVersion"] == "1.30"
    assert "${{" not in files["manifest.json"].decode()  # every placeholder filled
    assert manifest["id"] == manifest["bots"][0]["botId"] == manifest["webApplicationInfo"]["id"] == APP_ID
    assert manifest["validDomains"] == [DOMAIN]
    assert manifest["developer"]["websiteUrl"] == f"https://{DOMAIN}/"
    assert "authorization" not in manifest  # thread mode asks for no Graph permission


def test_the_bot_offers_every_command_in_personal_chat_and_in_the_team(tmp_path: Path) -> None:
    bot = json.loads(_package(tmp_path)["manifest.json"])["bots"][0]
    assert sorted(bot["scopes"]) == ["personal", "team"]
    lists = bot["commandLists"]
    assert sorted(scope for entry in lists for scope in entry["scopes"]) == ["personal", "team"]
    for entry in lists:
        assert sorted(c["title"] for c in entry["commands"]) == EXPECTED_TITLES
        assert all(c["description"].strip() for c in entry["commands"])


def test_command_texts_fit_the_limits_of_earlier_manifest_versions_too(tmp_path: Path) -> None:
    """v1.30 allows 128/4,000 characters; manifests up to v1.27 allowed 32 and 128: stay within what every client shows."""
    files = _package(tmp_path)
    bot, dutch = json.loads(files["manifest.json"])["bots"][0], json.loads(files["nl.json"])
    for entry in bot["commandLists"]:
        assert len(entry["commands"]) <= 12
        assert all(len(c["title"]) <= 32 and len(c["description"]) <= 128 for c in entry["commands"])
    assert all(len(text) <= 128 for key, text in dutch.items() if key.endswith(".description"))


@pytest.mark.parametrize("title", EXPECTED_TITLES)
def test_each_listed_command_is_one_the_grammar_knows(title: str) -> None:
    """Clicking a command in Teams inserts its title: the parser must take it (or ask for what is missing)."""
    try:
        commands.parse(title)
    except UsageError as exc:
        assert exc.key != "error.unknown_command", title


def test_dutch_tenants_see_dutch_command_descriptions(tmp_path: Path) -> None:
    files = _package(tmp_path)
    manifest, dutch = json.loads(files["manifest.json"]), json.loads(files["nl.json"])
    assert manifest["localizationInfo"]["additionalLanguages"] == [{"languageTag": "nl", "file": "nl.json"}]
    # Teams wants the localization file on the manifest's own schema version.
    assert dutch["$schema"] == (
        "https://developer.microsoft.com/json-schemas/teams/v1.30/MicrosoftTeams.Localization.schema.json"
    )
    for i, entry in enumerate(manifest["bots"][0]["commandLists"]):
        for j, command in enumerate(entry["commands"]):
            translated = dutch.get(f"bots[0].commandLists[{i}].commands[{j}].description")
            assert translated and translated != command["description"], command["title"]
    assert dutch["description.short"] != manifest["description"]["short"]


def test_the_icons_are_the_sizes_teams_requires(tmp_path: Path) -> None:
    files = _package(tmp_path)
    color = Image.open(io.BytesIO(files["color.png"])).convert("RGBA")
    outline = Image.open(io.BytesIO(files["outline.png"])).convert("RGBA")
    assert color.size == (192, 192)
    assert outline.size == (32, 32)
    assert color.getextrema()[3] == (255, 255)  # full colour: opaque everywhere
    pixels = [outline.getpixel((x, y)) for x in range(32) for y in range(32)]
    assert {p[:3] for p in pixels if isinstance(p, tuple) and p[3]} == {(255, 255, 255)}  # white only
    assert any(isinstance(p, tuple) and p[3] == 0 for p in pixels)  # on transparent


def test_dedicated_channel_mode_asks_for_channel_create_group_rsc(tmp_path: Path) -> None:
    manifest = json.loads(_package(tmp_path, "--dedicated-channels")["manifest.json"])
    assert _schema_errors(manifest, "teams-manifest-1.30.json") == []
    assert manifest["authorization"] == {  # create the incident's channel; after a crash, find it again by name
        "permissions": {
            "resourceSpecific": [
                {"name": "Channel.Create.Group", "type": "Application"},
                {"name": "ChannelSettings.Read.Group", "type": "Application"},
            ]
        }
    }


def test_the_app_id_and_domain_default_to_the_bots_own_settings(tmp_path: Path) -> None:
    env = {TEAMS_ENV[0]: APP_ID, TEAMS_ENV[1]: f"https://{DOMAIN}"}
    result = cli("teams-package", "--out", tmp_path / "app.zip", env=env)
    assert result.exit_code == 0, result.output
    manifest = json.loads(zipfile.ZipFile(tmp_path / "app.zip").read("manifest.json"))
    assert (manifest["id"], manifest["validDomains"]) == (APP_ID, [DOMAIN])


def test_a_domain_given_as_a_url_becomes_its_host(tmp_path: Path) -> None:
    out = tmp_path / "app.zip"
    result = cli("teams-package", "--app-id", APP_ID.upper(), "--domain", f"https://{DOMAIN}/base", "--out", out)
    assert result.exit_code == 0, result.output
    manifest = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert manifest["validDomains"] == [DOMAIN]
    assert manifest["id"] == APP_ID  # lower-cased, as Entra shows it


def test_an_app_id_that_is_not_a_guid_is_refused_by_name_and_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "app.zip"
    result = cli("teams-package", "--app-id", "my-bot", "--domain", DOMAIN, "--out", out)
    assert_refused(result, "--app-id", "'my-bot' is not a GUID", "Application (client) id")
    assert not out.exists()


def test_a_missing_app_id_or_domain_is_refused_with_what_to_give(tmp_path: Path) -> None:
    assert_refused(cli("teams-package", "--domain", DOMAIN), "--app-id", "missing")
    assert_refused(cli("teams-package", "--app-id", APP_ID), "--domain", "TEAMS_PUBLIC_URL", "missing")
    assert_refused(cli("teams-package", "--app-id", APP_ID, "--domain", "crisis example"), "--domain", "not a host")
    assert not list(Path.cwd().glob("*.zip"))


def test_the_developer_links_point_at_the_companys_page_and_only_an_https_one(tmp_path: Path) -> None:
    page = "https://intranet.example.com/crisis-plan"
    manifest = json.loads(_package(tmp_path, "--website", page)["manifest.json"])
    assert {manifest["developer"][k] for k in ("websiteUrl", "privacyUrl", "termsOfUseUrl")} == {page}
    assert_refused(
        cli("teams-package", "--app-id", APP_ID, "--domain", DOMAIN, "--website", "intranet/crisis"),
        "--website",
        "not an https URL",
    )


def test_a_re_upload_gets_the_version_it_is_given_and_only_a_version_teams_takes(tmp_path: Path) -> None:
    assert json.loads(_package(tmp_path, "--app-version", "1.4.0")["manifest.json"])["version"] == "1.4.0"
    for bad in ("1.4", "v1.4.0", "01.4.0"):
        args = ("teams-package", "--app-id", APP_ID, "--domain", DOMAIN, "--app-version", bad)
        assert_refused(cli(*args), "--app-version", f"{bad!r} is not a version")


def _copy_of_app_package(tmp_path: Path) -> Path:
    source = tmp_path / "appPackage"
    shutil.copytree(app_package_dir(), source)
    return source


def test_an_icon_of_the_wrong_size_is_refused_naming_the_file(tmp_path: Path) -> None:
    source = _copy_of_app_package(tmp_path)
    Image.new("RGBA", (48, 48), (255, 255, 255, 0)).save(source / "outline.png")
    with pytest.raises(ConfigError) as refused:
        build_package(PackageRequest(APP_ID, DOMAIN), tmp_path / "app.zip", source=source)
    assert refused.value.problems == ["appPackage/outline.png: 48×48 pixels — Teams needs exactly 32×32"]
    assert not (tmp_path / "app.zip").exists()


def test_a_manifest_the_schema_refuses_is_reported_by_field(tmp_path: Path) -> None:
    source = _copy_of_app_package(tmp_path)
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    manifest["name"]["short"] = "Crisis Desk for the whole company"  # Teams allows 30 characters
    manifest["bots"][0]["commandLists"][0]["commands"][0]["titel"] = "typo"
    (source / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        build_package(PackageRequest(APP_ID, DOMAIN), tmp_path / "app.zip", source=source)
    problems = refused.value.problems
    assert len(problems) == 2, problems
    assert problems[0].startswith("manifest.json: bots[0].commandLists[0].commands[0]: ")
    assert "'titel'" in problems[0]
    assert problems[1].startswith("manifest.json: name.short: ") and "too long" in problems[1]
    assert not (tmp_path / "app.zip").exists()
