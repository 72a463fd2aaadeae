"""The sections on how the program was chosen: what each trim step became, as the page says it."""

from __future__ import annotations

import re
from typing import Any

from specprompt.reports._decisions import trim_section


def _step(n: int, tokens: int, accepted: bool, outcome: str | None, **more: Any) -> dict[str, Any]:
    step = {"step": n, "move": "scale", "tokens": tokens, "score": 1.0, "accepted": accepted, "lost": []}
    return {**step, **more} if outcome is None else {**step, "outcome": outcome, **more}


def _verdicts(trim: dict[str, Any]) -> list[str]:
    page = trim_section({"trim": {"chosen": 0, "tokens_before": 40, **trim}})
    return re.findall(r"<tr><td>trim:\d+</td>(?:<td>[^<]*</td>){3}<td>([^<]*)</td></tr>", page)


def test_a_trim_step_says_whether_it_was_returned_superseded_or_rejected() -> None:
    steps = [
        _step(1, 30, True, "superseded"),
        _step(2, 20, True, "returned"),
        _step(3, 12, False, "rejected", lost=[4, 7], examples=4),
    ]
    assert _verdicts({"tokens_after": 20, "steps": steps}) == [
        "accepted, superseded by trim:2 (cheaper, also accepted)",
        "accepted and returned",
        "rejected: loses valset example(s) 4, 7 (stopped after 4 examples)",
    ]


def test_a_rejected_step_says_its_score_covers_only_the_examples_scored_before_its_loss() -> None:
    steps = [
        _step(1, 30, True, "returned", examples=14, score=0.6429),
        _step(2, 20, False, "rejected", lost=[6], examples=8, score=0.875),
    ]
    page = trim_section({"trim": {"chosen": 0, "tokens_before": 40, "tokens_after": 30, "steps": steps}})
    scores = re.findall(r"<tr><td>trim:\d+</td>(?:<td>[^<]*</td>){2}<td>([^<]*)</td>", page)
    assert scores == ["0.6429", "0.8750 over 8 examples"]


def test_accepted_steps_that_were_not_returned_say_why() -> None:
    gain = [_step(1, 30, True, "no gain")]
    assert _verdicts({"tokens_after": 40, "steps": gain}) == [
        "accepted (loses no example) but not returned: no gain over the chosen baseline"
    ]
    check = {"target": "t", "tokens": 20, "lost": [0, 3], "confirmed": False}
    refused = [_step(1, 30, True, "superseded"), _step(2, 20, True, "refused by the target")]
    assert _verdicts({"tokens_after": 40, "steps": refused, "check": check}) == [
        "accepted, superseded by trim:2 (cheaper, also accepted)",
        "accepted by the local judge, not returned: the target finds it loses valset example(s) 0, 3",
    ]
    # a pareto.json written before outcomes were recorded: no claim that the step was returned
    assert _verdicts({"tokens_after": 30, "steps": [_step(1, 30, True, None)]}) == [
        "accepted (whether it was returned is not recorded in this file)"
    ]
