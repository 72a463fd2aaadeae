"""Pictures, tables and pages that show which bands were kept and what they cost.

:func:`describe_program` lists every demo image of a program (or of its saved JSON, read without
running code) with its kept bands and tokens; :class:`CompileReport` turns a band search into a
self-contained HTML page (also shown inline in Jupyter); :func:`pareto_svg` draws score against
tokens (:func:`pareto_points`: the markers of a search's data, as the report draws them);
:func:`contact_sheet` draws renders of band selections side by side.
"""

from specprompt._pareto import PlotPoint, pareto_points, pareto_svg
from specprompt.reports._checks import check_report_path
from specprompt.reports._contact import contact_sheet
from specprompt.reports._demos import DemoImage, ProgramImages, describe_program
from specprompt.reports._html import CompileReport, report_data
from specprompt.reports._state import read_program_state

__all__ = [
    "CompileReport",
    "DemoImage",
    "PlotPoint",
    "ProgramImages",
    "check_report_path",
    "contact_sheet",
    "describe_program",
    "pareto_points",
    "pareto_svg",
    "read_program_state",
    "report_data",
]
