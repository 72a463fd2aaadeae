"""Whether ``--out`` holds the outputs of the compile about to run, or of another one.

Re-running the same command resumes its study and rewrites its files; a compile with other
settings (budget, cost model, program, datasets, LM, metric ...) must not replace another run's
``program.json``, ``pareto.json`` and ``report.html`` without ``--overwrite``. The check reads the
``pareto.json`` already in ``--out`` and runs before the search.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from specprompt.errors import ConfigError

__all__ = ["RUN_KEYS", "check_same_run"]

#: The entries of ``pareto.json``'s ``run`` record that name what a compile read.
RUN_KEYS = ("program", "trainset", "valset", "testset", "lm", "metric")


def check_same_run(out: Path, config: Mapping[str, Any], run: Mapping[str, Any], naming: tuple[str, ...]) -> None:
    """Raises unless ``out`` holds no compile outputs or those of a compile with these settings.

    Args:
        out: the ``--out`` folder.
        config: the new compile's ``SearchConfig.to_dict()``.
        run: the new compile's ``run`` record (``program``, ``trainset``, ... as ``pareto.json`` stores it).
        naming: the config fields that name a study (``specprompt.search._identity.NAMING_FIELDS``).

    Raises:
        ConfigError: naming ``--out`` and up to three differences (there and here), or a
            ``pareto.json`` that cannot be read; each says to pass ``--overwrite``.

    Example:
        >>> import tempfile
        >>> check_same_run(Path(tempfile.mkdtemp()), {}, {}, ())  # no earlier outputs
    """
    pareto = out / "pareto.json"
    if not pareto.is_file():
        return
    hint = "pass --overwrite to replace them, or give another --out"
    try:
        data = json.loads(pareto.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--out {str(out)!r} holds a pareto.json that cannot be read ({exc}); {hint}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--out {str(out)!r} holds a pareto.json that is not a compile's; {hint}")
    config_there, run_there = data.get("config"), data.get("run")
    before_config: dict[str, Any] = config_there if isinstance(config_there, dict) else {}
    before_run: dict[str, Any] = run_there if isinstance(run_there, dict) else {}
    differences = [(key, before_config.get(key), _json(config.get(key))) for key in naming if key in before_config] + [
        (key, before_run.get(key), run.get(key)) for key in RUN_KEYS if key in before_run or key in run
    ]
    changed = [f"{key} {there!r} there, {here!r} here" for key, there, here in differences if there != here]
    if changed:
        shown = "; ".join(changed[:3]) + (f"; and {len(changed) - 3} more" if len(changed) > 3 else "")
        raise ConfigError(f"--out {str(out)!r} holds the outputs of another compile ({shown}); {hint}")


def _json(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value, default=str))
