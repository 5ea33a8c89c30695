"""restores.rules: what every entry point of a restore (the wizard's preview, the YAML,
the CLIs, the job and the load) asks, so they cannot disagree."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from restores import rules
from restores.load import LoadParams, choices
from restores.rename import Renamer


def _manifest(indices: dict[str, dict]) -> SimpleNamespace:
    """A manifest as the repository gives it: a stream per index, its meta as the dump wrote it."""
    return SimpleNamespace(streams={f"indices/{name}": SimpleNamespace(meta=meta, size=100)
                                    for name, meta in indices.items()}, meta={})


# the row's per-index results (Snapshot.components["dump"]) and the manifest of the same snapshot
DUMP = {
    ".ds-logs-app-000001": {"docs": 30, "bytes": 100, "error": None, "data_stream": "logs-app"},
    ".ds-logs-app-000002": {"docs": 20, "bytes": 100, "error": None, "data_stream": "logs-app"},
    "logs-old": {"docs": 5, "bytes": 100, "error": None},
    "closed-1": {"docs": 0, "bytes": 0, "error": None, "closed": True},
    "users": {"docs": 7, "bytes": 100, "error": None},
}
MANIFEST = _manifest({
    ".ds-logs-app-000001": {"docs": 30, "data_stream": "logs-app"},
    ".ds-logs-app-000002": {"docs": 20, "data_stream": "logs-app"},
    "logs-old": {"docs": 5},
    "users": {"docs": 7},
})


@pytest.mark.parametrize("include,exclude,pattern,replacement", [
    (["logs-*"], [], "", ""),
    (["*"], ["users"], "^(.*)$", r"restored-\1"),
    (["logs-app"], [], "logs", "archive"),
    (["*"], ["logs-app"], "", ""),
])
def test_the_preview_of_the_row_and_the_load_of_the_manifest_choose_the_same(include, exclude, pattern, replacement):
    rename = Renamer(pattern, replacement)
    preview = rules.choose(rules.facts_from_dump(DUMP), include, exclude, rename)
    load = choices(MANIFEST, LoadParams(include=include, exclude=exclude, rename_pattern=pattern,
                                        rename_replacement=replacement))
    assert [(c.source, c.target, c.data_stream) for c in preview] == [(c.source, c.target, c.data_stream) for c in load]


def test_a_data_stream_pattern_chooses_its_backing_indices_and_a_closed_index_is_never_chosen():
    chosen = rules.choose(rules.facts_from_dump(DUMP), ["logs-*"], [], Renamer("^logs-", "old-logs-"))
    assert [(c.source, c.writes_to) for c in chosen] == [
        (".ds-logs-app-000001", "old-logs-app"), (".ds-logs-app-000002", "old-logs-app"), ("logs-old", "old-logs-old")]
    assert "closed-1" not in {c.source for c in rules.choose(rules.facts_from_dump(DUMP), ["*"], [], Renamer())}


def test_backing_indices_share_their_stream_but_nothing_else_shares_a_name():
    facts = rules.facts_from_dump(DUMP)
    assert rules.collision(rules.choose(facts, ["*"], [], Renamer())) == ""
    # an index renamed onto the data stream's name would mix its documents into the stream
    clash = rules.collision(rules.choose(facts, ["*"], [], Renamer("^logs-old$", "logs-app")))
    assert "maps both .ds-logs-app-000001 (data stream logs-app) and logs-old to logs-app" in clash
    two_streams = {**facts, ".ds-logs-web-000001": rules.IndexFacts(3, 10, "logs-web")}
    clash = rules.collision(rules.choose(two_streams, ["logs-app", "logs-web"], [], Renamer("^logs-(app|web)$", "logs")))
    assert "to logs:" in clash and "data stream logs-web" in clash
    assert "users" in rules.collision(rules.choose(facts, ["*"], [], Renamer("^(users|logs-old)$", "same")))


def test_the_load_refuses_the_collisions_the_preview_shows():
    from restores.load import load_snapshot

    conn = SimpleNamespace(dialect=object())  # refused before any request: nothing here is called
    with pytest.raises(ValueError, match="maps both .ds-logs-app-000001 .data stream logs-app. and logs-old"):
        load_snapshot(conn, MANIFEST, lambda name: [], LoadParams(metadata_kinds=(), rename_pattern="^logs-old$",
                                                                 rename_replacement="logs-app"))


def test_the_rename_check_finds_a_replacement_that_does_not_fit_its_pattern():
    assert rules.rename_errors("^(.*)$", r"restored-\1") == {}
    assert "Not a regular expression" in rules.rename_errors("(", "x")["rename_pattern"]
    assert rules.rename_errors("", "x") == {"rename_pattern": "Give the pattern the replacement applies to."}
    assert "invalid group reference 2" in rules.rename_errors("^(.*)$", r"\2")["rename_replacement"]
    assert "bad escape" in rules.rename_errors("a", r"\q")["rename_replacement"]
    with pytest.raises(ValueError, match="rename_replacement: Does not fit the pattern"):
        Renamer("^(.*)$", r"\2")


def test_patterns_are_split_the_same_way_from_text_and_from_a_command_line():
    assert rules.patterns("logs-*, users\nx") == rules.patterns(["logs-*,users", "x"]) == ["logs-*", "users", "x"]
    assert rules.patterns("") == rules.patterns([]) == rules.patterns(None) == []


def test_param_errors_name_the_parameter():
    assert rules.param_errors({}) == []
    assert rules.param_errors({"conflict": "replace", "on_index_failure": "drop", "rename_replacement": "x"}) == [
        "conflict: 'replace' unknown; use one of fail, skip, overwrite, merge.",
        "on_index_failure: 'drop' unknown; use keep or delete.",
        "rename_pattern: Give the pattern the replacement applies to."]
