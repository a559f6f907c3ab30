"""The ``linli`` command-line tool for operators."""
