"""Intake's rules, no I/O: reports, attributes, places, Open311 formats, media, duplicates."""

from services.intake.domain.acceptance import AcceptedReport, Contact, ReportDraft, accept_report
from services.intake.domain.text import MAX_DESCRIPTION, ReportRejected, check_description

__all__ = [
    "MAX_DESCRIPTION",
    "AcceptedReport",
    "Contact",
    "ReportDraft",
    "ReportRejected",
    "accept_report",
    "check_description",
]
