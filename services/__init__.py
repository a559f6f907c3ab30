"""The four Linli services: intake, dispatch, notify and ledger."""
