"""Linli's shared package: event contracts and the plumbing every service uses.

Business rules live in each service's ``domain`` module, never here.
"""
