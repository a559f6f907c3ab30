"""Notify: tells residents what happens to their reports, on the channels they chose."""
