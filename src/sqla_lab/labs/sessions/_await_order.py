"""Where does an asyncio task go when it awaits? Part of the ``sessions`` lab.

Seed, section 2: "처리중 awaite를 만나면 처리중엔 task는 다시 큐의 가장 윗단에 넣어놓고 다음
task를 처리" (on await, the task goes back to the top of the queue and the next task runs).
Three tasks each record a step and await ``asyncio.sleep(0)``; the order they ran in shows
where a task that awaits is put back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from sqla_lab.lab.messages import N_, Message
from sqla_lab.lab.results import Dependency, Finding, Measurement, Table, Verdict
from sqla_lab.lab.stats import decided
from sqla_lab.labs.sessions import _messages as words
from sqla_lab.labs.sessions._collisions import SEED_SOURCE

__all__ = [
    "AWAIT_STEPS",
    "AWAIT_TABLE",
    "AWAIT_TASKS",
    "await_order",
    "await_order_finding",
    "await_table",
]

AWAIT_TABLE = "sessions.await-order"

#: Tasks and steps of the await-order experiment.
AWAIT_TASKS, AWAIT_STEPS = 3, 3


async def await_order(tasks: int = AWAIT_TASKS, steps: int = AWAIT_STEPS) -> list[tuple[str, int]]:
    """Which task ran which step, in the order they ran, when each awaits after every step."""
    ran: list[tuple[str, int]] = []

    async def worker(name: str) -> None:
        for step in range(steps):
            ran.append((name, step))
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(chr(ord("A") + i)) for i in range(tasks)))
    return ran


def _resumptions(order: list[tuple[str, int]]) -> tuple[int, int, int]:
    """Of the awaits after which other tasks were ready: resumed first, resumed last, total."""
    first = last = total = 0
    for index, (name, _step) in enumerate(order):
        later = order[index + 1 :]
        nxt = next((i for i, (n, _) in enumerate(later) if n == name), None)
        if nxt is None:
            continue  # the task had finished
        others = {n for n, _ in later[:nxt]}
        ready = {n for n, s in order if n != name} & {n for n, _ in later}
        if not ready:
            continue  # nothing else could run
        total += 1
        first += nxt == 0
        last += others >= ready
    return first, last, total


def await_order_finding(order: list[tuple[str, int]], versions: Mapping[str, str]) -> Finding:
    """``sessions.await-order``: the seed's "goes back to the top of the queue"."""
    first, last, total = _resumptions(order)
    if first == total:
        verdict, conclusion = Verdict.CONFIRMED, "front"
    elif last == total:
        verdict, conclusion = Verdict.REFUTED, "back"
    else:
        verdict, conclusion = Verdict.DEPENDS, "mixed"
    counts = {"first": first, "last": last, "yields": total}
    return Finding(
        key="sessions.await-order",
        headline=N_("an awaiting task goes to the top"),
        deciding="resumed before the other ready tasks",
        claim=(
            N_(
                "On await, the running task goes back to the top of the queue and the next task "
                "runs: a task that awaits runs again before the tasks already waiting."
            )
        ),
        source=SEED_SOURCE + " 세션의 비동기 처리",
        quote=(
            "처리중 awaite를 만나면 처리중엔 task는 다시 큐의 가장 윗단에 넣어놓고 다음 task를 처리"
        ),
        measurements=(
            Measurement.single(N_("awaits with other tasks ready"), total, ""),
            Measurement.single(N_("resumed before the other ready tasks"), first, ""),
            Measurement.single(N_("resumed after all other ready tasks"), last, ""),
        ),
        explanation=Message(
            words.AWAIT_ORDER,
            {
                **counts,
                "tasks": AWAIT_TASKS,
                "steps": AWAIT_STEPS,
                "order": " ".join(f"{n}{s}" for n, s in order),
                "conclusion": Message(words.AWAIT_CONCLUSION[conclusion]),
            },
        ),
        versions=versions,
        **decided(verdict, Message(words.AWAIT_REASON, counts)).fields(
            depends_on=(
                Dependency(
                    on="state",
                    name=N_("which tasks were ready"),
                    detail=Message(words.AWAIT_REASON, counts),
                ),
            )
        ),
    )


def await_table(order: list[tuple[str, int]]) -> Table:
    return Table(
        key=AWAIT_TABLE,
        title=N_("Three tasks, each awaiting asyncio.sleep(0) after every step: who ran when"),
        columns=(N_("position"), N_("task"), N_("step")),
        rows=tuple((i + 1, name, step) for i, (name, step) in enumerate(order)),
    )
