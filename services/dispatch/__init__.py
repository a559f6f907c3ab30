"""Dispatch: routes issues to offices and departments, tracks deadlines and escalates."""
