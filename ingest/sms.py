"""The SMS short-code gateway: the classic commands, each answered with a short reply."""

from __future__ import annotations

from typing import Any

from engine import registrations
from engine.errors import InvalidInput, TimelineError
from engine.events import DirectMessageSent
from engine.ports import Backend
from engine.records import PageQuery
from ingest.operations import PHONE_RE, Writer

MAX_REPLY = 140


def _arg_handle(word: str) -> str:
    return word[1:] if word.startswith("@") else word


class SmsGateway:
    """Turns an inbound SMS from a registered phone into a write, and says what happened."""

    def __init__(self, writer: Writer, backend: Backend) -> None:
        self.writer = writer
        self.backend = backend

    async def handle(self, data: dict[str, Any]) -> dict[str, Any]:
        """The answer to one webhook call: the reply to send back, and whether it was done."""
        phone, text = data.get("from"), data.get("text")
        if not isinstance(phone, str) or not isinstance(text, str):
            raise InvalidInput("an SMS needs 'from' and 'text' strings", code="invalid_sms")
        user_id = (
            await registrations.phone_owner(self.backend, phone)
            if PHONE_RE.fullmatch(phone)
            else None
        )
        if user_id is None:
            return _refused("unknown_phone", "This number is not registered.")
        try:
            reply = await self._command(user_id, text.strip())
        except TimelineError as e:
            if e.status >= 500:
                raise
            return _refused(e.code, f"Not done: {e.message}")
        return {"reply": reply[:MAX_REPLY], "status": "ok"}

    async def _command(self, user_id: int, text: str) -> str:
        words = text.split(maxsplit=1)
        verb = words[0].lower() if words else ""
        if verb in ("follow", "leave") and len(words) == 2 and " " not in words[1].strip():
            target = await self.writer.user_by_handle(_arg_handle(words[1].strip()))
            await self.writer.change_follow(user_id, target.id, verb == "follow")
            done = "You now follow" if verb == "follow" else "You left"
            return f"{done} @{target.handle}."
        if verb.startswith("@") and len(words) == 2:
            return await self._reply(user_id, text, _arg_handle(verb))
        event = await self.writer.post(user_id, text, None)
        if isinstance(event, DirectMessageSent):
            return f"Message sent to @{event.recipient_handle}."
        return "Tweet posted."

    async def _reply(self, user_id: int, text: str, handle: str) -> str:
        target = await self.writer.user_by_handle(handle)
        latest = await self.backend.timelines.user_page(target.id, PageQuery(1))
        await self.writer.post(user_id, text, latest[0].id if latest else None)
        return f"Reply to @{target.handle} posted."


def _refused(code: str, reply: str) -> dict[str, Any]:
    return {"reply": reply[:MAX_REPLY], "status": "refused", "code": code}
