"""The ledger's application layer: the use cases the HTTP API calls (``Ledger``: open a
campaign, record a donation, request and decide disbursements, reverse an entry, the answer to
a command) and the fund's single writer the consumers call (``FundWriter``), over the pure
rules of ``domain`` and the books (``books``, ``donations``, ``spending``, ``campaigns``)."""
