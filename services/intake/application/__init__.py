"""Intake's application layer: the use cases that the native API, Open311 and the Kafka
consumers all call. They take commands (``commands.py``), return results or raise refusals
(``refusals.py``, ``ReportRejected``); nothing here knows HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from services.intake.application.filing import Filing
from services.intake.application.nearby import Nearby
from services.intake.application.read_model import ReadModel
from services.intake.application.reading import Reading
from shared.reference import Category


@dataclass(frozen=True)
class Intake:
    """The one application object: filing, reading, possible duplicates, the read model."""

    filing: Filing
    reading: Reading
    nearby: Nearby
    read_model: ReadModel
    categories: dict[str, Category]


__all__ = ["Filing", "Intake", "Nearby", "ReadModel", "Reading"]
