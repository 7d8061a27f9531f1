"""The README's people file works as written."""

from __future__ import annotations

import re
from pathlib import Path

from gpusteward.chat.identities import Identities

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readmes_people_file_loads_and_everyone_in_it_can_log_in() -> None:
    text = README.read_text()
    found = re.search(r"cat > people\.yaml <<'YAML'\n(.*?)\nYAML\n", text, re.S)
    assert found is not None, "the README's chat recipe writes people.yaml with a heredoc"
    people = Identities.parse(found.group(1), "README.md people.yaml")
    tokens = set(re.findall(r"change-me-[a-z]+-\d+", text))
    for person in people.file.people:
        assert any(people.by_token(t) == person for t in tokens), person.name
