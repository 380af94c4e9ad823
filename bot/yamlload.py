"""Reading YAML text the way `yaml.safe_load` does, with libyaml's parser where PyYAML has it (its wheels do).

Every desk reads all playbooks, drill scripts and both languages' wording when it opens (each `crisisbot serve`
start, each in-process desk of the tests); the pure-Python parser made that most of a start (0.3 s of 0.4 s).
"""

from __future__ import annotations

from typing import Any

import yaml

SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """A YAML document's data, as `yaml.safe_load` reads it."""
    return yaml.load(text, Loader=SAFE_LOADER)


def compose_yaml(text: str) -> yaml.Node | None:
    """A YAML document's node tree (each node knows its line), as `yaml.compose` reads it."""
    return yaml.compose(text, Loader=SAFE_LOADER)
