"""The residents' pages: phone sign-in, reporting, my reports, the inbox, preferences, and
the return visit's rating."""
