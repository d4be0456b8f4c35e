"""`ibkrws --help` lists every sub-command."""

from __future__ import annotations

import pytest

from ibkrws.cli import main


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "stream", "health", "simulate"):
        assert f"    {command} " in out, out


@pytest.mark.parametrize("command", ["demo", "stream", "health"])
def test_each_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: ibkrws {command}" in capsys.readouterr().out
