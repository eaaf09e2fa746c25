"""Attachment file names from a sender never become a path: sanitising, collisions, no overwrite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailconduit._cli._attachment_files import MAX_NAME, safe_filename, save_attachments
from mailconduit._message import Attachment


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("C:\\Windows\\system32\\cmd.exe", "cmd.exe"),
        ("evil\r\nname.txt", "evil name.txt"),
        ("nul\x00byte.txt", "nul byte.txt"),
        ("\x1b[31mred.txt", "[31mred.txt"),
        ("right\u202etxt.exe", "right txt.exe"),
        (".bashrc", "bashrc"),
        ("...", "attachment"),
        ("..", "attachment"),
        ("", "attachment"),
        (None, "attachment"),
        ("dir/", "attachment"),
        ("a<b>c:d|e?f*g.txt", "a_b_c_d_e_f_g.txt"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        ("  spaced  out .pdf. ", "spaced out .pdf"),
        ("Bericht für März.pdf", "Bericht für März.pdf"),
    ],
)
def test_safe_filename(given: str | None, expected: str) -> None:
    assert safe_filename(given) == expected


def test_long_names_keep_their_extension() -> None:
    name = safe_filename("x" * 1000 + ".pdf")
    assert len(name) <= MAX_NAME and name.endswith(".pdf")


def test_saving_numbers_collisions_and_never_follows_or_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "a.txt").write_bytes(b"already here")
    os.symlink(tmp_path / "elsewhere", target / "b.txt")  # a dangling symlink planted in the directory
    written = save_attachments(
        [
            Attachment(filename="a.txt", content=b"one"),
            Attachment(filename="a.txt", content=b"two"),
            Attachment(filename="../b.txt", content=b"three"),
        ],
        target,
    )
    assert [p.name for _, p in written] == ["a-2.txt", "a-3.txt", "b-2.txt"]
    assert (target / "a.txt").read_bytes() == b"already here"
    assert not (tmp_path / "elsewhere").exists()
    assert [p.read_bytes() for _, p in written] == [b"one", b"two", b"three"]
    assert all(p.parent == target for _, p in written)
