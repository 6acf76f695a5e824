"""Settings, from the environment or an optional ``.env`` file (names are case-insensitive).

The ``.env`` read is the project's own (next to ``main.py``), wherever a command is run from;
``LINDUNGI_ENV_FILE`` names another one, or, empty, none (the test suite sets it empty, so a
developer's ``.env`` cannot change what the tests do). Paths by default are under the
project's ``data/`` folder, never the working directory."""

import os
import re
import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from bot.channels import TELEGRAM, WHATSAPP
from bot.programmes import BadProgrammes, Programmes, parse_programmes
from bot.quiet_hours import QuietHours, parse_quiet_hours
from bot.rules import Rules
from bot.templates import NO_TEMPLATES, BadTemplates, Templates, parse_templates

PROJECT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT / "data"
DEFAULT_DATABASE_URL = f"sqlite+aiosqlite:///{DATA_DIR / 'lindungi.db'}"
DEFAULT_PROGRAMMES_FILE = PROJECT / "programmes.toml"
ENV_FILE_VARIABLE = "LINDUNGI_ENV_FILE"
DEFAULT_TWILIO_API_BASE_URL = "https://api.twilio.com"
TWILIO_SID = re.compile(r"AC[0-9a-fA-F]{32}")
WHATSAPP_NUMBER = re.compile(r"(?:whatsapp:)?\+?([1-9][0-9]{7,14})")
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
"""What Telegram accepts as a webhook's secret token."""
TWILIO_SETTINGS = ("twilio_account_sid", "twilio_auth_token", "twilio_whatsapp_from")
"""WhatsApp is on when all three are set; some but not all is a mistake."""


def env_file() -> Path | None:
    """The ``.env`` to read: ``LINDUNGI_ENV_FILE`` if set (empty: none), else the project's."""
    chosen = os.environ.get(ENV_FILE_VARIABLE)
    if chosen is None:
        return PROJECT / ".env"
    return Path(chosen) if chosen else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    def __init__(self, **values):
        values.setdefault("_env_file", env_file())
        super().__init__(**values)

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_send_concurrency: int = Field(4, ge=1, le=100)
    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = Field(10, ge=1, le=200)
    """PostgreSQL: connections this process keeps open (as many again may open under load):
    with N processes, N × 2 × this must stay under the server's ``max_connections``."""
    default_locale: Literal["id", "en"] = "id"
    session_ttl_hours: float = Field(24.0, gt=0)
    journal_retention_days: float = Field(7.0, ge=2)
    retention_inactive_days: float = Field(365.0, ge=30)
    retention_claim_documents_days: float = Field(90.0, ge=7)
    """How long a handled message's id is kept, so a webhook replayed later (Telegram and
    Twilio retry for up to a day) is still recognised and not handled twice."""
    income_brackets: tuple[int, ...] = (1_000_000, 2_000_000, 3_000_000, 5_000_000)
    jkk_rate_percent: float = Field(1.0, ge=0, le=100)
    jkm_monthly: int = Field(6_800, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    programmes_file: Path = DEFAULT_PROGRAMMES_FILE
    dtsen_hmac_key: SecretStr | None = None
    """The secret NIKs are hashed with before they are matched against DTSEN."""
    storage_dir: Path = DATA_DIR / "files"
    exports_dir: Path = DATA_DIR / "exports"
    """Where ``export-enrolment`` writes when given no ``--output`` (0700, ignored by git)."""
    """Where claim documents are kept (content-addressed; readable by the bot's user only)."""
    data_keys: SecretStr | None = None
    """The data keys as the key file's JSON (``models.keys``), for a secret manager that
    fills the environment; without it, ``data_keys_file``."""
    data_keys_file: Path = DATA_DIR / "keys.json"
    """The key file (0600): made on first start if missing; back it up apart from the
    database."""
    card_signing_key: SecretStr | None = None
    """Signs the QR code of membership cards; without it, a key kept in the database."""
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_whatsapp_from: str | None = None
    """The bot's WhatsApp sender, ``whatsapp:+628…`` (a bare ``+628…`` is taken as that)."""
    twilio_api_base_url: str = DEFAULT_TWILIO_API_BASE_URL
    public_base_url: str | None = None
    """The address Twilio calls (the webhooks are under it); what Twilio signs."""
    webhook_base_url: str | None = None
    """Telegram by webhook instead of long polling: the https address Telegram posts to
    (``…/telegram``)."""
    telegram_webhook_secret: SecretStr | None = None
    """The token Telegram sends with every webhook post; without it, one kept in the database."""
    telegram_webhook_connections: int = Field(100, ge=1, le=100)
    """How many updates Telegram posts at once (``setWebhook``'s ``max_connections``), to
    all processes together. Each post waits for its update's reply (the webhook answer), so
    the updates in flight bound the throughput: 100 answered 1.7× Telegram's default of 40
    (BENCHMARKS.md)."""
    telegram_webhook_answers: bool = True
    """An update's first reply goes in the webhook's response when it is ready at once (one
    request fewer); Telegram never confirms those. False: every reply by the API."""
    whatsapp_templates_file: Path | None = None
    """The Content templates for notices past WhatsApp's 24 hours (see the example file)."""
    telegram_rate: float = Field(30.0, ge=0)
    """Broadcast messages a second to Telegram, overall (0: no limit)."""
    telegram_chat_interval_s: float = Field(1.0, ge=0)
    """The least time between two broadcast messages to one Telegram chat."""
    whatsapp_rate: float = Field(80.0, ge=0)
    """Broadcast messages a second to Twilio's WhatsApp sender (0: no limit)."""
    quiet_hours: str = "21:00-07:00"
    """Jakarta time in which no broadcast is sent (``none``: any time)."""
    broadcast_lease_s: float = Field(60.0, gt=0)
    """How long a process may hold a batch of broadcast recipients before another (after a
    crash) takes it over."""
    reminder_coverage_days: str = "30,7"
    """Days before a worker's coverage ends that they are reminded (``none``: never)."""
    reminder_documents_days: str = "3,7"
    """Days after a claim last changed, still lacking documents, that the heir is reminded
    (``none``: never)."""
    host: str = "0.0.0.0"
    port: int = Field(8080, ge=1, le=65535)
    console: bool = True
    """``main.py run`` serves the staff console (``/console``) beside the webhooks."""
    instance: str | None = Field(None, max_length=60)
    """This process's name among those sharing the database (default: the host's name and
    ``PORT``): it holds the replies it sends and the upkeep it does, and started again under
    the same name it sends at once what it left unsent."""
    console_base_url: str | None = None
    """The console's address as staff reach it, for the sign-in links, e.g.
    ``https://lindungi.example.org/console``."""

    def instance_name(self) -> str:
        """``INSTANCE``, else this host's name and port: unique among processes that run at
        once, the same for one process started again."""
        return self.instance or f"{socket.gethostname()}:{self.port}"[:60]

    def console_url(self) -> str:
        """``CONSOLE_BASE_URL``, else ``/console`` under the public address, else this
        machine's own port."""
        if self.console_base_url:
            return self.console_base_url
        base = self.public_base_url or self.webhook_base_url or f"http://127.0.0.1:{self.port}"
        return f"{base}/console"

    @field_validator("twilio_account_sid", "twilio_whatsapp_from", "public_base_url",
                     "whatsapp_templates_file", "webhook_base_url", "console_base_url",
                     mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("twilio_account_sid")
    @classmethod
    def _account_sid(cls, value: str | None) -> str | None:
        if value is not None and not TWILIO_SID.fullmatch(value.strip()):
            raise ValueError("an account SID is AC followed by 32 hexadecimal digits (Twilio "
                             "console → Account info)")
        return value.strip() if value is not None else None

    @field_validator("twilio_auth_token")
    @classmethod
    def _auth_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("twilio_whatsapp_from")
    @classmethod
    def _whatsapp_from(cls, value: str | None) -> str | None:
        if value is None:
            return None
        found = WHATSAPP_NUMBER.fullmatch(value.strip().replace(" ", ""))
        if found is None:
            raise ValueError("must look like whatsapp:+6281234567890 (the sender's number "
                             "with its country code)")
        return f"whatsapp:+{found.group(1)}"

    @field_validator("twilio_api_base_url", "public_base_url", "console_base_url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or "?" in value or "#" in value:
            raise ValueError("must be an address starting with http:// or https://, without "
                             "a query, e.g. https://lindungi.example.org")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        parse_quiet_hours(value)
        return value

    def quiet(self) -> QuietHours | None:
        return parse_quiet_hours(self.quiet_hours)

    @field_validator("webhook_base_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith("https://") or "?" in value or "#" in value:
            raise ValueError("must be the https address Telegram reaches the bot at, without "
                             "a query, e.g. https://lindungi.example.org")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("use 1 to 256 letters, digits, _ and -, e.g. the output of "
                             "`python -c 'import secrets; print(secrets.token_hex(32))'`")
        return value

    @model_validator(mode="after")
    def _webhook_needs_token(self) -> "Settings":
        if self.webhook_base_url is not None and self.telegram_bot_token is None:
            raise BadSetting("bad setting TELEGRAM_BOT_TOKEN: needed for the Telegram webhook, "
                             "since WEBHOOK_BASE_URL is set")
        return self

    @model_validator(mode="after")
    def _whatsapp_complete(self) -> "Settings":
        """Raises ``BadSetting`` itself (pydantic lets it through): ``load_settings`` names the
        first failing field, and a missing one is not a field that failed."""
        given = [name for name in TWILIO_SETTINGS if getattr(self, name) is not None]
        if given and len(given) < len(TWILIO_SETTINGS):
            missing = next(name for name in TWILIO_SETTINGS if name not in given)
            raise BadSetting(f"bad setting {missing.upper()}: needed for WhatsApp, since "
                             f"{', '.join(name.upper() for name in given)} "
                             f"{'is' if len(given) == 1 else 'are'} set")
        if given and self.public_base_url is None:
            raise BadSetting("bad setting PUBLIC_BASE_URL: needed for WhatsApp: the https "
                             "address Twilio calls, e.g. https://lindungi.example.org")
        return self

    @property
    def whatsapp_configured(self) -> bool:
        return all(getattr(self, name) is not None for name in TWILIO_SETTINGS)

    @field_validator("dtsen_hmac_key", "card_signing_key")
    @classmethod
    def _secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("use at least 32 characters, e.g. the output of "
                             "`python -c 'import secrets; print(secrets.token_hex(32))'`")
        return value

    def dtsen_key(self) -> bytes:
        if self.dtsen_hmac_key is None:
            raise BadSetting("bad setting DTSEN_HMAC_KEY: needed to match NIKs against DTSEN; "
                             "generate one with `python -c 'import secrets; "
                             "print(secrets.token_hex(32))'` and keep it secret")
        return self.dtsen_hmac_key.get_secret_value().encode()

    @field_validator("telegram_bot_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if ":" not in value.get_secret_value():
            raise ValueError("a bot token looks like 123456:ABC-DEF… (from @BotFather)")
        return value

    @field_validator("telegram_api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("reminder_coverage_days", "reminder_documents_days")
    @classmethod
    def _days(cls, value: str) -> str:
        parse_days(value)
        return value

    def reminder_days(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(days before coverage ends, days after a claim stalls) to remind on."""
        return (parse_days(self.reminder_coverage_days),
                parse_days(self.reminder_documents_days))

    @field_validator("income_brackets")
    @classmethod
    def _brackets(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(value) < 2 or list(value) != sorted(set(value)) or value[0] <= 0:
            raise ValueError("needs at least two increasing positive amounts, e.g. "
                             "[1000000,2000000,3000000]")
        return value

    @property
    def journal_retention(self) -> timedelta:
        return timedelta(days=self.journal_retention_days)

    def retention(self) -> tuple[timedelta, timedelta]:
        """How long what has served its purpose is kept (``models.retention``): a registration
        that led nowhere, without activity; the documents of a closed claim."""
        return (timedelta(days=self.retention_inactive_days),
                timedelta(days=self.retention_claim_documents_days))

    def programmes(self) -> Programmes:
        """The programmes file, checked whole; ``BadSetting`` lists every mistake in it."""
        try:
            text = self.programmes_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise BadSetting(f"bad setting PROGRAMMES_FILE: cannot read "
                             f"{self.programmes_file}: {exc.strerror}") from None
        try:
            return parse_programmes(text, str(self.programmes_file))
        except BadProgrammes as exc:
            raise BadSetting(str(exc)) from None

    def templates(self, placeholders: Callable[[str], set[str] | None]) -> Templates:
        """The WhatsApp templates file, checked whole (``placeholders(kind)``: the values of
        a notice kind); none set: no templates."""
        path = self.whatsapp_templates_file
        if path is None:
            return NO_TEMPLATES
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BadSetting(f"bad setting WHATSAPP_TEMPLATES_FILE: cannot read {path}: "
                             f"{exc.strerror}") from None
        try:
            return parse_templates(text, str(path), placeholders)
        except BadTemplates as exc:
            raise BadSetting(f"bad setting WHATSAPP_TEMPLATES_FILE: {exc}") from None

    def rules(self) -> Rules:
        return Rules(default_locale=self.default_locale,
                     session_ttl=timedelta(hours=self.session_ttl_hours),
                     income_brackets=self.income_brackets,
                     jkk_rate_percent=self.jkk_rate_percent, jkm_monthly=self.jkm_monthly,
                     broadcast_rates={TELEGRAM: self.telegram_rate,
                                      WHATSAPP: self.whatsapp_rate},
                     quiet_hours=self.quiet(),
                     whatsapp=self.whatsapp_configured)


def parse_days(text: str) -> tuple[int, ...]:
    """"30,7" → (30, 7); "" or "none" → (); ValueError for anything else."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        days = tuple(sorted({int(part) for part in text.split(",")}, reverse=True))
    except ValueError:
        raise ValueError("write whole days separated by commas, e.g. 30,7, or none") from None
    if any(not 1 <= day <= 365 for day in days):
        raise ValueError("each day must be from 1 to 365")
    return days


class BadSetting(Exception):
    """A setting that stops start-up; its message is one line that names it."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first.get("loc") else "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise BadSetting(f"bad setting {name}: {message}") from None
    except SettingsError as exc:  # a list or number that could not even be parsed
        found = re.search(r'field "(\w+)"', str(exc))
        name = found.group(1).upper() if found else "settings"
        raise BadSetting(f"bad setting {name}: cannot be read (lists are written as JSON, "
                         f"e.g. [1000000,2000000])") from None
