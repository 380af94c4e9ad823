"""The typed grammar's mentions: Slack's `<@U…>` as before, Teams' `<@entra-object-id>` from the wire adapter."""

from __future__ import annotations

import pytest

from bot.chat.commands import TEAMS_MENTIONS, parse
from bot.errors import UsageError

ANNA = "8c0f3a52-1d2e-4b7a-9c3d-5e6f7a8b9c0d"


def test_slack_mentions_parse_as_before() -> None:
    command = parse("roles set legal <@U0ANNA|anna> <@W0BOB>")
    assert (command.name, command.role, command.users) == ("roles_set", "legal", ["U0ANNA", "W0BOB"])


def test_teams_mentions_are_entra_object_ids_lower_cased() -> None:
    command = parse(f"roles set legal <@{ANNA.upper()}> <@{ANNA[:-1]}e>", mentions=TEAMS_MENTIONS)
    assert command.users == [ANNA, ANNA[:-1] + "e"]


@pytest.mark.parametrize("word", ["@anna", "<@U0ANNA>", "<at>Anna</at>", f"<@{ANNA[:-2]}>", f"<@{ANNA}|anna>"])
def test_a_word_that_is_no_teams_mention_is_refused_with_the_teams_key(word: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(f"roles set legal {word}", mentions=TEAMS_MENTIONS)
    assert (caught.value.key, caught.value.params) == ("error.no_mention_teams", {"word": word[:40]})


@pytest.mark.parametrize("word", ["@anna", f"<@{ANNA}>", "<@u0anna>"])
def test_slack_refuses_what_is_no_slack_mention_with_its_own_key(word: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(f"roles set legal {word}")
    assert (caught.value.key, caught.value.params) == ("error.no_mention", {"word": word})
