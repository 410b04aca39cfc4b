"""Notice the first read of an eagerly loaded relationship, however it is read.

An eager loader fills ``user.posts`` straight into the instance's ``__dict__``; reading it
later fires no SQLAlchemy event. Watching the *collection* (iteration, ``len``) misses every
reader that goes through the C API: pydantic's ``from_attributes`` validation reads the list
without calling a Python-level method, and so would anything that hands the list to C code.
Every reader, though, gets the value through the class attribute first: ``user.posts``,
``getattr(user, "posts")``, ``awaitable_attrs``, pydantic, ``repr()``/``==`` of the list,
``to_domain()``. So the read is noticed there: while a relationship has an eager load
nobody has read yet, its ``InstrumentedAttribute`` (one per mapped class, subclasses
included) is switched to a subclass whose ``__get__`` tells the watchers and then switches
the attribute back. The first read costs one Python call; later reads cost nothing, and
nothing is patched process-wide: only that attribute object, only until it is read or the
block ends.

SQLAlchemy's own reads (flush, cascades, backrefs) go through the attribute implementation,
not ``__get__``, and are not seen; the detector counts a delete cascade separately.

Why our own code: SQLAlchemy has no read event, and pytest-queryguard's approach (replacing
``InstrumentedAttribute.__get__`` for the whole process) makes every attribute read of every
session pay for the check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import InstrumentedAttribute, QueryableAttribute, RelationshipProperty

__all__ = [
    "ReadCallback",
    "ReadWatch",
]

ReadCallback = Callable[[RelationshipProperty[Any]], None]


class _Watching(InstrumentedAttribute[Any]):
    """Base of the per-attribute classes :class:`ReadWatch` switches attributes to."""

    __slots__ = ()
    _sqla_lab_original: type
    _sqla_lab_watchers: list[ReadCallback]

    def __get__(self, instance: object | None, owner: Any) -> Any:
        if instance is not None:
            cls = type(self)
            # Back first: a watcher that reads the attribute must not come here again.
            self.__class__ = cls._sqla_lab_original
            prop = self.prop
            for notify in list(cls._sqla_lab_watchers):
                notify(prop)  # type: ignore[arg-type]  # a relationship's attribute
        return InstrumentedAttribute.__get__(self, instance, owner)


class ReadWatch:
    """Switch a relationship's attributes to notice their next read (see the module doc).

    Args:
        notify: called with the relationship at its first read after :meth:`watch`.
    """

    def __init__(self, notify: ReadCallback) -> None:
        self._notify = notify
        self._attributes: list[QueryableAttribute[Any]] = []

    def watch(self, prop: RelationshipProperty[Any]) -> None:
        """Notify at the next read of ``prop`` on any instance of its class or subclasses."""
        for mapper in prop.parent.self_and_descendants:
            attribute = mapper.class_manager.get(prop.key)
            if attribute is None:
                continue
            cls = type(attribute)
            if issubclass(cls, _Watching):
                if self._notify not in cls._sqla_lab_watchers:
                    cls._sqla_lab_watchers.append(self._notify)
            elif cls is InstrumentedAttribute:
                attribute.__class__ = type(
                    "WatchedAttribute",
                    (_Watching,),
                    {
                        "__slots__": (),
                        "_sqla_lab_original": cls,
                        "_sqla_lab_watchers": [self._notify],
                    },
                )
            else:
                continue  # a custom attribute class: left alone, its reads are not seen
            if not any(attribute is known for known in self._attributes):
                self._attributes.append(attribute)

    def close(self) -> None:
        """Stop watching: every attribute this watch switched is switched back."""
        for attribute in self._attributes:
            cls = type(attribute)
            if not issubclass(cls, _Watching):
                continue
            if self._notify in cls._sqla_lab_watchers:
                cls._sqla_lab_watchers.remove(self._notify)
            if not cls._sqla_lab_watchers:
                attribute.__class__ = cls._sqla_lab_original
        self._attributes.clear()
