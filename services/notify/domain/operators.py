"""Operator keys: ``opk_<id>.<secret>``, the secret stored hashed."""

from __future__ import annotations

import hashlib


def new_operator_key(key_id: str, secret: str) -> str:
    return f"opk_{key_id}.{secret}"


def hash_operator_secret(secret: str) -> str:
    return hashlib.sha256(f"linli-operator:{secret}".encode()).hexdigest()


def split_operator_key(key: str) -> tuple[str, str] | None:
    """(key id, secret) of ``opk_<id>.<secret>``, None for anything else."""
    if not key.startswith("opk_") or "." not in key:
        return None
    key_id, _, secret = key[4:].partition(".")
    return (key_id, secret) if key_id and secret else None
