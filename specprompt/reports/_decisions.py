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
    "chosen_text",
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


def _row_of(data: Mapping[str, Any], trial: object) -> Mapping[str, Any] | None:
    """The front row, the chosen row or the scored trial numbered ``trial`` (``None`` when none is)."""
    rows: list[Mapping[str, Any]] = [*(data.get("front") or ()), data.get("best") or {}]
    for r in rows:
        if r.get("trial") == trial:
            return r
    for t in data.get("trials") or ():
        if t.get("number") == trial:
            return {**t, "trial": trial}
    return None


def chosen_text(data: Mapping[str, Any]) -> str:
    """Which program was returned and what decided it: its trial and origin; the front row that
    beats it when it is not on the front; the valset leader and the bootstrap probability that the
    leader beats it, as the selection rule recorded them (``leader``, ``p_leader_better``).

    Example:
        >>> best = {"trial": 0, "score": 1.0, "tokens": 28, "full": True, "origin": "baseline:uniform"}
        >>> front = [{"trial": 7, "score": 1.0, "tokens": 23, "origin": "sampler"}]
        >>> data = {"best": best, "front": front, "leader": 7, "p_leader_better": 0.0,
        ...         "config": {"tie_confidence": 0.8}}
        >>> print(chosen_text(data))  # doctest: +NORMALIZE_WHITESPACE
        Chosen: trial 0 (baseline:uniform), 28 image tokens, score 1.0000 on the full valset; not on
        the Pareto front: trial 7 scores as high with fewer tokens (1.0000, 23 tokens). Trial 7 led the
        full-valset scores; P(trial 7 beats trial 0) = 0.00 < tie confidence 0.8: a tie, and a baseline
        that sends images wins a tie.
    """
    best = data.get("best")
    if not isinstance(best, Mapping):
        return ""
    text = (
        f"Chosen: trial {best.get('trial')} ({best.get('origin') or 'origin not recorded'}), "
        f"{best.get('tokens')} image tokens, score {fmt_score(best.get('score'))} on the "
        f"{'full valset' if best.get('full') else 'minibatch'}"
    )
    shown: set[object] = set()  # trials whose score and tokens the text gave
    front = [r for r in data.get("front") or () if isinstance(r, Mapping)]
    if front and all(r.get("trial") != best.get("trial") for r in front):
        beats = [r for r in front if r["tokens"] <= best["tokens"] and r["score"] >= best["score"]]
        text += "; not on the Pareto front"
        if beats:
            r = max(beats, key=lambda r: (r["score"], -r["tokens"]))
            shown.add(r["trial"])
            more = "as high" if r["score"] == best["score"] else "higher"
            text += (
                f": trial {r['trial']} scores {more} with {'fewer' if r['tokens'] < best['tokens'] else 'as few'} "
                f"tokens ({fmt_score(r['score'])}, {r['tokens']} tokens)"
            )
    trim = data.get("trim")
    pick = best.get("trial")
    if isinstance(trim, Mapping) and trim.get("chosen") is not None and trim.get("chosen") != pick:
        pick = trim["chosen"]
        origin = (_row_of(data, pick) or {}).get("origin")
        text += f"; trimmed from trial {pick}{f' ({origin})' if origin else ''}, the selection rule's pick"
    text += "."
    leader = data.get("leader")
    if leader is None:
        return text
    if leader == pick:
        return text + f" Trial {pick} led the full-valset scores."
    row = _row_of(data, leader)
    numbers = "" if row is None or leader in shown else f" ({fmt_score(row.get('score'))}, {row.get('tokens')} tokens)"
    p = float(data.get("p_leader_better") or 0.0)
    tie = (data.get("config") or {}).get("tie_confidence")
    text += f" Trial {leader} led the full-valset scores{numbers}; P(trial {leader} beats trial {pick}) = {p:.2f}"
    if isinstance(tie, (int, float)):
        text += f" < tie confidence {tie:g}" if p < tie else f" >= tie confidence {tie:g}"
    confirmation, local = data.get("confirmation"), data.get("local_pick")
    if isinstance(confirmation, Mapping) and not confirmation.get("departed"):
        text += ": the check of leaving the best baseline returned the baseline (below)"
    elif isinstance(local, Mapping) and not local.get("returned"):
        text += ": a local judge's pick was held back (below)"
    elif isinstance(tie, (int, float)) and p < tie:
        picked = _row_of(data, pick) or best
        origin = picked.get("origin")  # absent from the trials of a pareto.json written before it was recorded
        if origin is None:
            text += ": a tie"
        elif str(origin).startswith("baseline:") and picked.get("tokens", 0) > 0:
            text += ": a tie, and a baseline that sends images wins a tie"
        else:
            text += ": a tie, and the cheaper wins"
    return text + "."


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
    steps = [s for s in tr.get("steps") or () if isinstance(s, Mapping)]
    rows = "".join(
        f"<tr><td>trim:{escape(str(s.get('step')))}</td><td>{escape(str(s.get('move')))}</td>"
        f"<td>{escape(str(s.get('tokens')))}</td><td>{escape(_trim_score(s))}</td>"
        f"<td>{escape(_trim_verdict(s, steps[i + 1 :], tr.get('check')))}</td></tr>"
        for i, s in enumerate(steps)
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


def _trim_score(step: Mapping[str, Any]) -> str:
    """A trim step's valset score; a rejected step's is the mean over the examples scored before its
    loss, which the cell says (it is not comparable with a full-valset score)."""
    text = f"{float(step.get('score', 0.0)):.4f}"
    if not step.get("accepted") and step.get("examples"):
        text += f" over {step['examples']} examples"
    return text


def _trim_verdict(step: Mapping[str, Any], later: list[Mapping[str, Any]], check: object) -> str:
    """What became of one trim step, from the ``outcome`` recorded with it (``TrimReport.outcomes`` of
    the search); ``later`` are the steps after it."""
    if not step.get("accepted"):
        lost = ", ".join(str(i) for i in step.get("lost") or ())
        stopped = f" (stopped after {step['examples']} examples)" if step.get("examples") else ""
        return f"rejected: loses valset example(s) {lost}{stopped}"
    outcome = step.get("outcome")
    if outcome == "returned":
        return "accepted and returned"
    if outcome == "superseded":
        nxt = next((s for s in later if s.get("accepted")), None)
        by = f"trim:{nxt.get('step')}" if nxt is not None else "a cheaper accepted step"
        return f"accepted, superseded by {by} (cheaper, also accepted)"
    if outcome == "no gain":
        return "accepted (loses no example) but not returned: no gain over the chosen baseline"
    if outcome == "refused by the target":
        found = (check.get("lost") or ()) if isinstance(check, Mapping) else ()
        lost = ", ".join(str(i) for i in found)
        return f"accepted by the local judge, not returned: the target finds it loses valset example(s) {lost}"
    return "accepted (whether it was returned is not recorded in this file)"


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
