"""Consult's rules: pure functions and values, no I/O; time is passed in."""
