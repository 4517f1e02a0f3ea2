"""schemas/events.json against engine/events.py: every event type, its topic, key, schema
version and fields with their wire types, and the dead-letter value."""

import itertools
import json
import sys
from types import SimpleNamespace
from typing import Any

import msgpack
import pytest

from engine.events import Event, dead_letter_value, decode, encode
from engine.records import Mention, Tweet
from schemas import EVENTS_FILE

pytestmark = pytest.mark.unit

DOC: dict[str, Any] = json.loads(EVENTS_FILE.read_text(encoding="utf-8"))
# the annotations of event and tweet fields, as the wire types events.json names
WIRE_TYPES = {
    "int": "int",
    "str": "str",
    "bytes": "bytes",
    "int | None": "int | null",
    "tuple[str, ...]": "[str]",
    "tuple[Mention, ...]": "[[int, str]]",
}
ENVELOPE_FIELDS = ("event_id", "ts_us")


def _event_classes() -> list[type[Event]]:
    """Every subclass of Event written to the log (not what a projection reads of one:
    `in_log`), as its module names it (dataclass(slots=True) leaves behind the class it
    replaced)."""
    found, todo = [], list(Event.__subclasses__())
    while todo:
        cls = todo.pop()
        if getattr(sys.modules[cls.__module__], cls.__name__, None) is cls and cls.in_log:
            found.append(cls)
        todo += cls.__subclasses__()
    return found


EVENTS = sorted(_event_classes(), key=lambda cls: cls.type_name)


def _fields(cls: type[Any]) -> list[Any]:
    """A struct's fields in order, each with its name and its annotation as written."""
    written = {
        n: t for c in reversed(cls.__mro__) for n, t in vars(c).get("__annotations__", {}).items()
    }
    return [SimpleNamespace(name=n, type=written[n]) for n in cls.__struct_fields__]


def _wire_fields(cls: type[Any]) -> list[Any]:
    """The fields a type puts in "d": its own, or those of the tweet it carries whole."""
    own = [f for f in _fields(cls) if f.name not in ENVELOPE_FIELDS]
    if [f.type for f in own] == ["Tweet"]:
        return _fields(Tweet)
    return own


def _type_of(documented: str) -> str:
    """The wire type of a documented field, without its note in parentheses."""
    return documented.split(" (", 1)[0]


def _documented(cls: type[Event]) -> dict[str, str]:
    entry = DOC["types"][cls.type_name]
    return {name: _type_of(t) for name, t in entry["versions"][str(cls.schema_version)].items()}


def _sample(cls: type[Event]) -> Event:
    """An event of this type whose every number and string differs from the others."""
    n = itertools.count(101)
    values: dict[str, Any] = {}
    for f in _fields(cls):
        if f.type == "Tweet":
            values[f.name] = Tweet(
                next(n), next(n), "a", "t", next(n), next(n), ("h",), (Mention(next(n), "m"),)
            )
        else:
            values[f.name] = next(n) if f.type == "int" else f"s{next(n)}"
    return cls(**values)


def _is_wire(value: Any, wire_type: str) -> bool:
    if wire_type == "int | null":
        return value is None or _is_wire(value, "int")
    if wire_type == "[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if wire_type == "[[int, str]]":
        return isinstance(value, list) and all(
            isinstance(v, list) and [type(x) for x in v] == [int, str] for v in value
        )
    kinds = {"int": int, "str": str, "bytes": bytes}
    return isinstance(value, kinds[wire_type]) and not isinstance(value, bool)


def test_every_event_type_is_documented_and_nothing_else() -> None:
    assert sorted(DOC["types"]) == sorted({cls.type_name for cls in EVENTS})
    assert len(EVENTS) == len(DOC["types"]), "two classes share a type name"


@pytest.mark.parametrize("cls", EVENTS, ids=lambda cls: cls.type_name)
def test_a_type_has_its_documented_version_topic_and_key(cls: type[Event]) -> None:
    entry = DOC["types"][cls.type_name]
    assert sorted(entry["versions"]) == [str(cls.schema_version)]
    assert entry["topic"] == cls.topic
    assert entry["topic"] in DOC["topics"]
    event = _sample(cls)
    assert msgpack.unpackb(encode(event))["d"][entry["key"]] == event.key


@pytest.mark.parametrize("cls", EVENTS, ids=lambda cls: cls.type_name)
def test_a_type_has_its_documented_fields_and_types(cls: type[Event]) -> None:
    from_code = {f.name: WIRE_TYPES[str(f.type)] for f in _wire_fields(cls)}
    assert _documented(cls) == from_code


@pytest.mark.parametrize("cls", EVENTS, ids=lambda cls: cls.type_name)
def test_an_encoded_event_holds_the_documented_fields_in_their_types(cls: type[Event]) -> None:
    event = _sample(cls)
    envelope = msgpack.unpackb(encode(event))
    assert sorted(envelope) == sorted(DOC["envelope"]["fields"])
    assert (envelope["v"], envelope["type"]) == (DOC["envelope"]["version"], cls.type_name)
    assert envelope["sv"] == cls.schema_version
    documented = _documented(cls)
    assert sorted(envelope["d"]) == sorted(documented)
    for name, value in envelope["d"].items():
        assert _is_wire(value, documented[name]), (name, value, documented[name])
    assert decode(encode(event)) == event


def test_a_dead_letter_holds_the_documented_fields_in_their_types() -> None:
    letter = msgpack.unpackb(dead_letter_value("tweets", 1, 2, "group", "why", b"\x00"))
    documented = {name: _type_of(t) for name, t in DOC["dead_letter"].items()}
    assert sorted(letter) == sorted(documented)
    for name, value in letter.items():
        assert _is_wire(value, documented[name]), (name, value)
