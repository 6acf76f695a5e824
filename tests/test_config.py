"""Settings: defaults that start a newcomer's terminal chat, and one clear line for a bad one."""

from datetime import timedelta

import pytest

from bot.config import (
    DEFAULT_DATABASE_URL,
    PROJECT,
    BadSetting,
    Settings,
    env_file,
    load_settings,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL", "DATABASE_URL",
                 "DEFAULT_LOCALE", "SESSION_TTL_HOURS", "INCOME_BRACKETS"):
        monkeypatch.delenv(name, raising=False)


def test_defaults():
    settings = Settings()
    assert settings.telegram_bot_token is None
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.rules().session_ttl == timedelta(hours=24)
    assert settings.rules().contribution(1_000_000) == 16_800


def test_environment_and_dotenv(monkeypatch, tmp_path):
    (tmp_path / "lindungi.env").write_text("TELEGRAM_BOT_TOKEN=123:abc\nDEFAULT_LOCALE=en\n")
    monkeypatch.setenv("LINDUNGI_ENV_FILE", str(tmp_path / "lindungi.env"))
    monkeypatch.setenv("SESSION_TTL_HOURS", "0.5")
    monkeypatch.setenv("INCOME_BRACKETS", "[1000000,1500000]")
    settings = Settings()
    assert settings.telegram_bot_token.get_secret_value() == "123:abc"
    assert settings.rules().default_locale == "en"
    assert settings.rules().session_ttl == timedelta(minutes=30)
    assert settings.rules().income_brackets == (1_000_000, 1_500_000)


def test_the_env_file_is_the_projects_and_the_tests_read_none(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("DEFAULT_LOCALE=en\n")  # in the working directory
    assert env_file() is None  # tests/conftest.py: the suite reads no .env at all
    assert Settings().default_locale == "id"
    monkeypatch.delenv("LINDUNGI_ENV_FILE")
    assert env_file() == PROJECT / ".env"  # wherever the command runs from
    assert f"sqlite+aiosqlite:///{PROJECT}/data/lindungi.db" == DEFAULT_DATABASE_URL


@pytest.mark.parametrize("name, value", [
    ("DATABASE_URL", "mysql://root@localhost/x"),
    ("TELEGRAM_API_BASE_URL", "api.telegram.org"),
    ("TELEGRAM_BOT_TOKEN", "not-a-token"),
    ("DEFAULT_LOCALE", "fr"),
    ("SESSION_TTL_HOURS", "-1"),
    ("JOURNAL_RETENTION_DAYS", "1"),  # a webhook replayed the next day would run again
    ("INCOME_BRACKETS", "[2000000,1000000]"),
    ("INCOME_BRACKETS", "lots"),
])
def test_a_bad_setting_is_named_in_one_line(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(BadSetting) as caught:
        load_settings()
    line = str(caught.value)
    assert line.startswith(f"bad setting {name}:")
    assert "\n" not in line

