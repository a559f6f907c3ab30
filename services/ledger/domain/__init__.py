"""The ledger's pure rules (no I/O): accounts, balanced entries and their hash chain, funds
with holds, the approval of disbursements, idempotency, and the public figures."""
