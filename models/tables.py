"""The tables. Times are stored in UTC."""

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, DateTime, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def _utc(**kwargs) -> Column:
    return Column(DateTime(timezone=True), **kwargs)


class Conversation(SQLModel, table=True):
    """One chat's session (see ``bot.session.Session``) as JSON, saved after every message."""

    __tablename__ = "conversation"
    chat_key: str = Field(primary_key=True, max_length=100)
    state: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(sa_column=_utc(nullable=False, index=True))


class InboundMessage(SQLModel, table=True):
    """The journal of handled messages: one row per channel message id, so a message delivered
    twice is handled once. ``replies`` holds the rendered replies until they are delivered, so a
    crash between storing and sending loses nothing; it is cleared once they are sent."""

    __tablename__ = "inbound_message"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_inbound_channel_id"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    external_id: str = Field(max_length=100)
    chat_key: str = Field(max_length=100)
    received_at: datetime = Field(sa_column=_utc(nullable=False, index=True))
    replies: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    delivered: bool = Field(default=False, index=True)


class Worker(SQLModel, table=True):
    """An informal worker who registered through the chat."""

    __tablename__ = "worker"
    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=20, unique=True)
    nik: str = Field(max_length=16, unique=True)
    full_name: str = Field(max_length=80)
    birth_date: date
    phone: str = Field(max_length=20)
    occupation: str = Field(max_length=40)
    occupation_other: str | None = Field(default=None, max_length=60)
    kelurahan: str = Field(max_length=60)
    kecamatan: str = Field(max_length=60)
    monthly_income: int = Field(sa_type=BigInteger)
    status: str = Field(max_length=30, index=True)
    channel: str = Field(max_length=20)
    chat_key: str = Field(max_length=100, index=True)
    locale: str = Field(max_length=5)
    consent_version: str = Field(max_length=20)
    consented_at: datetime = Field(sa_column=_utc(nullable=False))
    created_at: datetime = Field(sa_column=_utc(nullable=False))


class Staff(SQLModel, table=True):
    """Someone allowed to use the staff commands, by their chat account."""

    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("channel", "chat_id", name="uq_staff_account"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    chat_id: str = Field(max_length=64)
    name: str | None = Field(default=None, max_length=80)
    role: str = Field(max_length=20)
    added_at: datetime = Field(sa_column=_utc(nullable=False))


class StaffAction(SQLModel, table=True):
    """The record of every staff action: who, what, when (and on whom)."""

    __tablename__ = "staff_action"
    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=40)
    subject: str | None = Field(default=None, max_length=100)
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = Field(sa_column=_utc(nullable=False, index=True))


class DtsenEntry(SQLModel, table=True):
    """One person of the city's DTSEN extract, found by a keyed hash of their NIK: the raw NIK
    (and KK number) of people who never registered is not kept."""

    __tablename__ = "dtsen_entry"
    nik_hash: bytes = Field(sa_column=Column(LargeBinary(32), primary_key=True))
    kk_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False, index=True))
    desil: int
    address: str = Field(max_length=200)
    updated_at: datetime = Field(sa_column=_utc(nullable=False))
