"""What a run exercised, per suite: operations, rules, credential states, reach.

Each suite declares its *universe* (``COVERAGE`` in the suite module: a kind
such as ``operation`` or ``rule`` mapped to the items the suite is meant to
exercise, derived from the spec where the spec knows them) and its tests
record what they actually exercised through the ``losant_coverage`` fixture.
Records travel on pytest's ``user_properties``, so they reach the controlling
process under pytest-xdist as well. At the end of a run the table lists, per
suite and kind, how many items were exercised and how many cases each got;
items exercised zero times are named, and ``--strict-coverage`` turns them
into a failed run.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PROPERTY = "losant-coverage"


@dataclass
class Recorder:
    """Handed to a test (``losant_coverage``): counts go onto the test's report."""

    suite: str
    properties: list

    def hit(self, kind: str, item: str, cases: int = 1) -> None:
        self.properties.append((PROPERTY, (self.suite, kind, item, int(cases))))


@dataclass
class Tally:
    """Every record of a run, summed; the suites' universes to compare with."""

    counts: dict[tuple[str, str], dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    suites: set[str] = field(default_factory=set)

    def add_report(self, suite: str | None, user_properties: Iterable[tuple[str, Any]]) -> None:
        if suite:
            self.suites.add(suite)
        for name, value in user_properties:
            if name == PROPERTY:
                rec_suite, kind, item, cases = value
                self.suites.add(rec_suite)
                self.counts[(rec_suite, kind)][item] += cases

    def universe(self, suite: str) -> dict[str, list[str]]:
        from losant_kit.contracts.suites import module_of

        try:
            module = importlib.import_module(module_of(suite))
        except ImportError:
            return {}
        declared = getattr(module, "COVERAGE", None)
        return declared() if callable(declared) else dict(declared or {})

    def rows(self) -> list[tuple[str, str, int, int, int, list[str]]]:
        """(suite, kind, exercised, total, cases, items exercised zero times)."""
        rows = []
        for suite in sorted(self.suites):
            universe = self.universe(suite)
            kinds = sorted(set(universe) | {k for s, k in self.counts if s == suite})
            for kind in kinds:
                counts = self.counts.get((suite, kind), {})
                items = list(universe.get(kind, [])) + [i for i in counts
                                                        if i not in universe.get(kind, [])]
                zero = [i for i in items if counts.get(i, 0) == 0]
                rows.append((suite, kind, len(items) - len(zero), len(items),
                             sum(counts.values()), zero))
        return rows

    @property
    def unexercised(self) -> list[str]:
        return [f"{suite} {kind} {item}" for suite, kind, _, _, _, zero in self.rows()
                for item in zero]

    def table(self, detail: bool = False) -> str:
        lines = ["losant-contracts coverage", "-" * 60,
                 f"{'suite':12} {'kind':22} {'exercised':>11} {'cases':>7}"]
        for suite, kind, done, total, cases, zero in self.rows():
            lines.append(f"{suite:12} {kind:22} {done:5}/{total:<5} {cases:7}")
            if zero:
                shown = ", ".join(zero[:8]) + (f" (+{len(zero) - 8} more)" if len(zero) > 8
                                               else "")
                lines.append(f"{'':12}   exercised 0 times: {shown}")
            if detail:
                counts = self.counts.get((suite, kind), {})
                for item in sorted(counts):
                    lines.append(f"{'':14} {item:40} {counts[item]:6}")
        return "\n".join(lines)
