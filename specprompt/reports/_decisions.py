"""The sections of the HTML report that say how the program was chosen after the search.

Each takes the report's data (:func:`~specprompt.reports.report_data`, the content of
``pareto.json``) and returns an HTML fragment, or ``""`` when the compile did not do that step:
the calibration of the scoring LM, the check of leaving the best baseline, a local judge's pick
the target confirmed or held back, the trim and the multi-fidelity screening.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from specprompt.reports._text import escape, fmt_score

__all__ = [
    "calibration_section",
    "confirmation_section",
    "local_pick_section",
    "screening_section",
    "trim_section",
]


def calibration_section(data: Mapping[str, Any]) -> str:
    """The rank agreement of the scoring LM with the target, and each probe's two scores."""
    cal = data.get("calibration")
    if not isinstance(cal, Mapping):
        return ""
    from specprompt.search import Calibration

    c = Calibration.from_dict(cal)
    lines = "".join(f"<p>{escape(line)}</p>" for line in c.summary().splitlines())
    if data.get("calibration_given"):
        lines += "<p>Calibration given: measured before this compile, which made no target call for it.</p>"
    head = f"<tr><th>probe</th><th>tokens</th><th>{escape(c.local)}</th><th>{escape(c.target)}</th></tr>"
    body = "".join(
        f"<tr><td>{escape(p.get('name', ''))}</td><td class=num>{escape(p.get('tokens', ''))}</td>"
        f"<td class=num>{fmt_score(a)}</td><td class=num>{fmt_score(b)}</td></tr>"
        for p, a, b in zip(c.probes, c.local_scores, c.target_scores, strict=True)
    )
    return f"<h2>Calibration</h2>{lines}<table>{head}{body}</table>"


def confirmation_section(data: Mapping[str, Any]) -> str:
    """The check of leaving the best baseline (``confirm_splits``), when it ran."""
    c = data.get("confirmation")
    if not isinstance(c, Mapping):
        return ""
    gain = float(c.get("gain", 0.0))
    verdict = (
        "the search's pick is kept"
        if c.get("departed")
        else f"the search's pick is not kept: the baseline trial {c.get('fallback')} is returned"
    )
    unseen = int(c.get("unseen") or 0)
    need = float(c.get("min_examples") or 0.0)
    worth = f" ({gain * unseen:+.2f} of {unseen} examples)" if unseen else ""
    rule = f"; leaving needs at least {need:g} example(s)" if need > 0 else ""
    text = (
        f"Chosen on random halves of the validation set, the search's pick gains {100 * gain:+.1f} points"
        f"{worth} over the best baseline (trial {c.get('fallback')}) on the other halves ({c.get('splits')} "
        f"splits{rule}): {verdict}."
    )
    return f"<h2>Leaving the baseline</h2><p>{escape(text)}</p>"


def local_pick_section(data: Mapping[str, Any]) -> str:
    """What became of a local judge's pick over the baselines (``local_departures``), if any."""
    lp = data.get("local_pick")
    if not isinstance(lp, Mapping):
        return ""
    head = (
        f"The search, scored by a local judge, picked trial {lp.get('pick')} ({lp.get('pick_origin')}, "
        f"{lp.get('pick_tokens')} tokens, valset {fmt_score(lp.get('pick_score'))}) over the baselines."
    )
    check = lp.get("check")
    if isinstance(check, Mapping):
        sign = ">=" if check.get("confirmed") else "<"
        head += (
            f" The target {check.get('target')} scored it {fmt_score(check.get('pick'))} against the best "
            f"baseline's {fmt_score(check.get('fallback'))} on {check.get('examples')} validation examples "
            f"(P(better) {float(check.get('p_better') or 0.0):.2f} {sign} {check.get('confidence')}; "
            f"{check.get('calls')} target calls)."
        )
    else:
        reason = str(lp.get("reason") or "")
        head += f" {reason[:1].upper()}{reason[1:]}."
    verdict = (
        "It is returned." if lp.get("returned") else f"It is not returned: the baseline trial {lp.get('fallback')} is."
    )
    title = "Confirmed by the target" if lp.get("returned") else "Held back"
    return f"<h2>{title}</h2><p>{escape(head)} {escape(verdict)}</p>"


def trim_section(data: Mapping[str, Any]) -> str:
    """The cheaper variants of the chosen program the trim tried (``trim=True``)."""
    tr = data.get("trim")
    if not isinstance(tr, Mapping):
        return ""
    head = (
        f"trial {tr.get('chosen')} chosen by the selection rule: {tr.get('tokens_before')} image tokens; "
        f"returned after the trim: {tr.get('tokens_after')} (a variant is accepted only when it loses no "
        "validation example the chosen program got)"
    )
    rows = "".join(
        f"<tr><td>trim:{escape(str(s.get('step')))}</td><td>{escape(str(s.get('move')))}</td>"
        f"<td>{escape(str(s.get('tokens')))}</td><td>{float(s.get('score', 0.0)):.4f}</td>"
        f"<td>{'accepted' if s.get('accepted') else escape('rejected: loses ' + str(s.get('lost')))}</td></tr>"
        for s in tr.get("steps") or ()
        if isinstance(s, Mapping)
    )
    table = (
        ""
        if not rows
        else "<table><tr><th>step</th><th>move</th><th>tokens</th><th>valset</th><th>verdict</th></tr>"
        + rows
        + "</table>"
    )
    note = f"<p>{escape(str(tr.get('note')))}</p>" if tr.get("note") else ""
    check = tr.get("check")
    if isinstance(check, Mapping):
        verdict = (
            "it loses no example the program before the trim got: the trimmed program is returned"
            if check.get("confirmed")
            else f"it loses validation example(s) {check.get('lost')}: the program before the trim is returned"
        )
        text = (
            f"The search was scored by a local judge, so the target {check.get('target')} checked its trim: "
            f"it scored the trimmed program ({check.get('tokens')} tokens) {fmt_score(check.get('trimmed'))} on "
            f"{check.get('examples')} validation examples against {fmt_score(check.get('chosen'))} before the "
            f"trim ({check.get('calls')} target calls); {verdict}."
        )
        note += f"<p>{escape(text)}</p>"
    return f"<h2>Trim</h2><p>{escape(head)}</p>{note}{table}"


def screening_section(data: Mapping[str, Any]) -> str:
    """What the screening judge of a multi-fidelity search did (``screen=``)."""
    sc = data.get("screening")
    if not isinstance(sc, Mapping):
        return ""
    if sc.get("active"):
        text = (
            f"{sc.get('screened')} trials screened by {sc.get('judge')} ({sc.get('screen_calls')} screen calls), "
            f"{sc.get('promoted')} scored by the target (keep {sc.get('keep')}); {sc.get('note')}"
        )
    else:
        text = f"screening with {sc.get('judge')} was off: {sc.get('note')}"
    return f"<h2>Multi-fidelity screening</h2><p>{escape(text)}</p>"
