"""Ledger: the charity fund's books and their public account."""
