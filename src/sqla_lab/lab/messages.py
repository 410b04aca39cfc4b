"""Explanations as parameterised messages: a template plus the values the run produced.

A finding's explanation, the reason for its verdict and what would settle an inconclusive one
are :class:`Message` objects, never pre-built strings: the *template* is a constant kept in one
place per lab (marked with :func:`N_` so that ``pybabel extract -k N_`` finds it), the *values*
come from the measurement. Rendering formats the template with the values::

    FASTER = N_("pooling wins by {ratio:.1f}x over {rounds} interleaved rounds")
    Message(FASTER, {"ratio": 9.8, "rounds": 30}).render()

A translation hooks in at rendering time: ``message.render(catalog.gettext)`` translates the
template (and every nested message's template) before the values are put in, so a translator
sees ``"pooling wins by {ratio:.1f}x over {rounds} interleaved rounds"`` once, not one string
per run. Values are numbers, words that need no translation (names of settings, exception
classes, SQL), nested messages (phrases that do need translation) or tuples of those, which
render joined with ``"; "``.

Quantities are formatted with :func:`format_value`, the one place that decides how many digits
a millisecond gets; the renderers (``report/``) use it too. :func:`format_value` never prints a
negative duration or size: those are differences, and :mod:`sqla_lab.lab.stats` words them
("0.2 ms less", "no measurable difference").

Numbers stay numbers until they are rendered: a :class:`Quantity` value (a number and its
unit) is formatted in the reader's language (``38.5x`` in English, ``38.5배`` in Korean; a
negative duration "0.2 ms less" / "0.2 ms 적음"), so a saved run renders in either language.
Korean writes numbers with the same decimal point and grouping comma as English (CLDR; a unit
test checks it against Babel's data), so only the words around a number change.

Why our own class: gettext's ``_()`` translates a finished string, which would make every run's
numbers part of the message id; Babel's lazy strings solve the same problem for web frameworks
but would add a dependency to the toolkit for one ``str.format`` call.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqla_lab import translation as _translation

__all__ = [
    "NON_NEGATIVE_UNITS",
    "NOTHING",
    "N_",
    "UNIT_NAMES",
    "UNIT_TEMPLATES",
    "YES_NO",
    "Message",
    "MessageValue",
    "Quantity",
    "Translate",
    "as_written",
    "format_value",
    "join",
    "message_from_dict",
    "render_text",
]

#: Units of quantities that cannot be negative: durations and sizes.
NON_NEGATIVE_UNITS = frozenset({"ms", "µs", "us", "ns", "s", "B", "kB", "MB", "bytes"})

Translate = _translation.Translate
N_ = _translation.N_
as_written = _translation.as_written

#: What a message value may be: JSON scalars, a quantity, a nested message, or a tuple.
MessageValue = Any


#: How a number and its unit read, per unit; any other unit reads ``"{number} {unit}"``.
UNIT_TEMPLATES = {
    "x": N_("{number}x"),
    "ratio": N_("{number}%"),
    "": "{number}",
}
#: The units labs give measurements, named so the catalog translates them (any other unit
#: is shown as written): a number reads ``"{number} {unit}"``.
UNIT_NAMES = (
    N_("B"),
    N_("backends"),
    N_("connections"),
    N_("entities"),
    N_("ms"),
    N_("ms/ms"),
    N_("of 6"),
    N_("of 7"),
    N_("parameters"),
    N_("req/s"),
    N_("rows"),
    N_("rows/s"),
    N_("s"),
    N_("statements"),
    N_("users"),
    N_("workers"),
    N_("µs"),
)
_LESS = N_("{quantity} less")
_GENERIC_UNIT = "{number} {unit}"


def format_value(value: float, unit: str, translate: Translate = as_written) -> str:
    """A number with sensible precision for its size and unit, in ``translate``'s language.

    A negative duration or size (a unit in :data:`NON_NEGATIVE_UNITS`) is printed as its
    magnitude followed by "less": it can only be a difference, and a cost is never negative.
    """
    if unit == "bool":
        return YES_NO[bool(value)].render(translate)
    if math.isinf(value):
        # An unbounded ratio (the other side does not grow at all): no digits to print.
        number = "-∞" if value < 0 else "∞"
    elif unit == "ratio":
        number = f"{value * 100:.0f}"
    elif unit == "x":
        number = f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    elif unit in NON_NEGATIVE_UNITS and value < 0:
        return translate(_LESS).format(quantity=format_value(-value, unit, translate))
    else:
        magnitude = abs(value)
        if magnitude >= 100 or value == int(value):
            number = f"{value:,.0f}"
        elif magnitude >= 1:
            number = f"{value:.2f}"
        else:
            number = f"{value:.3g}"
    template = UNIT_TEMPLATES.get(unit)
    if template is None:
        return translate(_GENERIC_UNIT).format(number=number, unit=translate(unit))
    return translate(template).format(number=number)


@dataclass(frozen=True)
class Quantity:
    """A number and its unit, formatted only when rendered (in the reader's language).

    Use it for every number a message shows, rather than a string from :func:`format_value`:
    a saved run then renders in any language.
    """

    value: float
    unit: str = ""

    def render(self, translate: Translate = as_written) -> str:
        """The number with its unit, as :func:`format_value` words it."""
        return format_value(self.value, self.unit, translate)

    def __str__(self) -> str:
        return self.render()


def render_text(text: Message | str, translate: Translate = as_written) -> str:
    """A message rendered, or a plain string (a template without values) translated."""
    if isinstance(text, Message):
        return text.render(translate)
    return translate(text)


@dataclass(frozen=True)
class Message:
    """A template and the values that fill it; :meth:`render` makes the text.

    Attributes:
        template: ``str.format`` syntax; with no values it is the text itself (braces and all).
        values: what the run produced, by placeholder name.
    """

    template: str
    values: Mapping[str, MessageValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.values:
            return
        wanted = {
            name.split(".")[0].split("[")[0]
            for _, name, _, _ in string.Formatter().parse(self.template)
            if name
        }
        missing = wanted - set(self.values)
        if missing:
            raise ValueError(f"message {self.template!r} lacks values for {sorted(missing)}")

    def render(self, translate: Translate = as_written) -> str:
        """The text, with ``translate`` applied to this template and every nested one."""
        template = translate(self.template)
        if not self.values:
            return template
        return template.format_map(
            {name: _render_value(value, translate) for name, value in self.values.items()}
        )

    def __str__(self) -> str:
        return self.render()

    def __hash__(self) -> int:
        # The values are a dict (unhashable): hash what the message says, so a message can
        # key a dict or sit in a frozen dataclass that is hashed (a Measurement's label).
        return hash((self.template, repr(sorted(self.values.items()))))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary: the English text, the template and the values."""
        return {
            "text": self.render(),
            "template": self.template,
            "values": {name: _value_to_json(v) for name, v in self.values.items()},
        }


def join(parts: Sequence[Message | str], separator: str = " ") -> Message:
    """One message of ``parts`` in order, ``separator`` between them.

    Its template holds only placeholders and the separator, so it needs no translation: each
    part is translated on its own.
    """
    escaped = separator.replace("{", "{{").replace("}", "}}")
    if not parts:
        return Message("")
    return Message(
        escaped.join(f"{{part{i}}}" for i in range(len(parts))),
        {f"part{i}": part for i, part in enumerate(parts)},
    )


#: Yes and no, as every lab words an observed boolean (messages: they translate too).
YES_NO = {True: Message(N_("yes")), False: Message(N_("no"))}
#: What a lab says where an operation raised nothing.
NOTHING = Message(N_("nothing"))


def message_from_dict(data: Mapping[str, Any] | str) -> Message:
    """Inverse of :meth:`Message.to_dict`; a plain string becomes a message without values."""
    if isinstance(data, str):
        return Message(data)
    return Message(
        data["template"],
        {name: _value_from_json(v) for name, v in data.get("values", {}).items()},
    )


def _render_value(value: MessageValue, translate: Translate) -> object:
    if isinstance(value, Message | Quantity):
        return value.render(translate)
    if isinstance(value, tuple):
        return "; ".join(str(_render_value(item, translate)) for item in value)
    return value


def _json_float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _value_to_json(value: MessageValue) -> object:
    if isinstance(value, Quantity):
        return {"quantity": _json_float(value.value), "unit": value.unit}
    if isinstance(value, Message):
        return {"template": value.template, "values": value.to_dict()["values"]}
    if isinstance(value, tuple):
        return {"items": [_value_to_json(item) for item in value]}
    return value


def _value_from_json(value: object) -> MessageValue:
    if isinstance(value, dict) and "quantity" in value:
        return Quantity(float(value["quantity"]), str(value.get("unit", "")))
    if isinstance(value, dict) and "items" in value:
        return tuple(_value_from_json(item) for item in value["items"])
    if isinstance(value, dict) and "template" in value:
        return message_from_dict(value)
    return value
