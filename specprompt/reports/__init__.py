"""Pictures and tables that show which bands were kept and what they cost."""

from specprompt.reports._contact import contact_sheet

__all__ = ["contact_sheet"]
