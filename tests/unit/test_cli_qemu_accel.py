"""`overcast agent/lab --qemu-accel`: kvm or tcg pins the hosts' QEMU accelerator
(tests/e2e/test_lab_migration.py runs the lab with tcg); anything else is refused
before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize("command", [
    ["agent", "--host", "h1", "--driver", "qemu", "--bus-url", "amqp://u:p@127.0.0.1:1/"],
    ["lab", "--hosts", "1"]])
def test_an_unknown_accelerator_is_refused(tmp_path: Path, command: list[str]) -> None:
    from typer.testing import CliRunner

    from overcast.cli import app

    result = CliRunner().invoke(app, [*command, "--data-dir", str(tmp_path),
                                      "--qemu-accel", "hvf"])
    assert result.exit_code == 2, result.output
    assert "--qemu-accel hvf: use kvm or tcg" in result.output
    assert list(tmp_path.iterdir()) == []

