"""Notify's routes, a module for each thing they serve."""
