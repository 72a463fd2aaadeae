"""Band search: pick the frequency bands of each few-shot demo image under an image-token budget."""

from specprompt.search._arguments import check_metric_signature
from specprompt.search._baselines import BASELINES
from specprompt.search._calibrate import calibrate
from specprompt.search._calibration import Calibration
from specprompt.search._claims import shared_url
from specprompt.search._config import SearchConfig
from specprompt.search._identity import NAMING_FIELDS
from specprompt.search._optimizer import BandOptimizer
from specprompt.search._pruning import SearchedStartupPruner
from specprompt.search._result import BaselineResult, CompileResult, ParetoRow
from specprompt.search._scoring import metric_value
from specprompt.search._screen import SCREEN_CHECKPOINT
from specprompt.search._space import (
    Dim,
    ImageSpace,
    available_search_spaces,
    register_search_space,
    search_space_for,
)
from specprompt.search._spend import Spend, SpendReport, StudySpend
from specprompt.search._study_record import REMOTE_FIELDS
from specprompt.search._transport import RetryPolicy
from specprompt.search._workers import worker_seed

__all__ = [
    "BASELINES",
    "BandOptimizer",
    "BaselineResult",
    "Calibration",
    "CompileResult",
    "Dim",
    "ImageSpace",
    "NAMING_FIELDS",
    "ParetoRow",
    "REMOTE_FIELDS",
    "RetryPolicy",
    "SCREEN_CHECKPOINT",
    "SearchConfig",
    "SearchedStartupPruner",
    "Spend",
    "SpendReport",
    "StudySpend",
    "available_search_spaces",
    "calibrate",
    "check_metric_signature",
    "metric_value",
    "register_search_space",
    "search_space_for",
    "shared_url",
    "worker_seed",
]
