from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import Base, JSONDocument


class Stream(Base):
    """A stream's position: its epoch (changes when its history was lost) and last offset."""

    __tablename__ = "streams"

    stream_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(32))
    last_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]


class StreamMessage(Base):
    """One message of a stream's history, kept for replay (bounded by count and age)."""

    __tablename__ = "stream_messages"
    __table_args__ = (Index("ix_stream_messages_created_at", "created_at"),)

    stream_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    epoch: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime]
