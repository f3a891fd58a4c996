"""AnyRule / AllRule: combine rules; the decision shown is the one that settled the outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from metricwatch.rules._base import Rule, bad
from metricwatch.types import Decision, Verdict

if TYPE_CHECKING:
    from metricwatch.rules._history import StudyHistory


class _Combined(Rule):
    def __init__(self, rules: Sequence[Rule]) -> None:
        if not rules or not all(isinstance(r, Rule) for r in rules):
            raise bad(self.name, "rules", rules, "a non-empty list of rules")
        self.rules = tuple(rules)
        super().__init__({"rules": [{"rule": r.name, **r.params} for r in self.rules]})

    # The verdict that settles the combination, most decisive first; each subclass sets its order.
    priority: ClassVar[tuple[Verdict, ...]]

    def decide(self, history: StudyHistory, job: str, epoch: int) -> Decision:
        decisions = [r.decide(history, job, epoch) for r in self.rules]  # every rule, no short cuts
        chosen = min(decisions, key=lambda d: self.priority.index(d.verdict))  # first of the best
        # Keep the deciding rule's value/threshold/population; the name says how it was reached.
        return replace(chosen, rule=f"{self.name}/{chosen.rule}")


class AnyRule(_Combined):
    """Stop if any rule says stop (e.g. a divergence guard OR the median rule).

    The first stopping rule's decision is returned; otherwise the first CONTINUE (a judged job), else
    the first NOT_YET. Every rule is asked, in order, so the outcome never depends on short cuts.
    """

    name = "any"
    priority = (Verdict.STOP, Verdict.CONTINUE, Verdict.NOT_YET)


class AllRule(_Combined):
    """Stop only if every rule says stop (e.g. worse than the median AND above a bound).

    If any rule cannot judge yet (NOT_YET) and none says CONTINUE, the result is NOT_YET; a CONTINUE
    from any rule continues. The returned decision is the first one with the resulting verdict.
    """

    name = "all"
    priority = (Verdict.CONTINUE, Verdict.NOT_YET, Verdict.STOP)
