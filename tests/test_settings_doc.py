"""docs/settings.md is the settings' own table: one source, printed by `python -m assistant settings`."""

from __future__ import annotations

import subprocess
import sys

from assistant.settings import Settings, settings_table

from .conftest import ROOT


def test_every_setting_is_described() -> None:
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert missing == []


def test_the_settings_page_is_the_table_the_command_prints() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "assistant", "settings"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()
    assert printed == settings_table(Settings)
    assert "| `ASSISTANT_FETCH_ALLOW` | none |" in printed
    page = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert printed in page, "docs/settings.md is out of date: paste `python -m assistant settings` into it"
