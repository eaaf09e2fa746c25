"""Reading the YAML: syntax errors with line and column, duplicate keys refused, the plugins list alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailconduit import ConfigError
from mailconduit._config import local_plugin_modules, parse_yaml, read_yaml


def test_syntax_error_names_file_line_and_column_without_quoting_the_line(tmp_path: Path) -> None:
    path = tmp_path / "mailconduit.yaml"
    path.write_text("accounts:\n  a:\n    email: a@example.test\n   password: hunter2-not-shown\n")
    with pytest.raises(ConfigError) as caught:
        read_yaml(path)
    assert caught.value.source == str(path)
    ((where, message),) = caught.value.problems
    assert where == "line 4, column 4"
    assert message.startswith("YAML syntax error: ")
    assert "hunter2-not-shown" not in str(caught.value)


def test_unquoted_reference_inside_braces_gets_a_hint() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml("auth: {method: password, password: ${env:PW}}\n")
    ((where, message),) = caught.value.problems
    assert where == "line 1, column 37"
    assert message.endswith('inside { } or [ ] quote secret references: "${env:NAME}"')
    assert parse_yaml('auth: {method: password, password: "${env:PW}"}\n') == {
        "auth": {"method": "password", "password": "${env:PW}"}
    }


def test_duplicate_keys_are_refused_at_every_level() -> None:
    text = "accounts:\n  a:\n    email: x@example.test\n    email: y@example.test\n  a: {}\nrunner: {}\n"
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text)
    assert sorted(caught.value.problems) == [
        ("line 4, column 5", "duplicate key 'email' (first at line 3); remove one of them"),
        ("line 5, column 3", "duplicate key 'a' (first at line 2); remove one of them"),
    ]


def test_merge_keys_may_be_overridden() -> None:
    text = "base: &b {host: x, port: 1}\nsend:\n  <<: *b\n  port: 2\n"
    assert parse_yaml(text)["send"] == {"host": "x", "port": 2}


def test_safe_load_only() -> None:
    with pytest.raises(ConfigError):
        parse_yaml("x: !!python/object/apply:os.system ['true']\n")


def test_empty_documents_and_missing_files(tmp_path: Path) -> None:
    assert parse_yaml("") == {}
    assert parse_yaml("# only a comment\n") == {}
    with pytest.raises(ConfigError) as caught:
        read_yaml(tmp_path / "absent.yaml")
    assert "not found; pass --config FILE or set MAILCONDUIT_CONFIG" in caught.value.problems[0][1]


def test_local_plugin_modules_reads_only_the_plugins_list(tmp_path: Path) -> None:
    path = tmp_path / "mailconduit.yaml"
    path.write_text("plugins: [myapp.mail, ' other.mod ', 42]\naccounts: {broken: [1, 2]}\nunknown: key\n")
    assert local_plugin_modules(path) == ["myapp.mail", "other.mod"]
    path.write_text("plugins: myapp.mail\n")
    assert local_plugin_modules(path) == []
    path.write_text("plugins: [a\n")  # broken YAML: config check reports it, plugin loading goes on
    assert local_plugin_modules(path) == []
    assert local_plugin_modules(tmp_path / "absent.yaml") == []
