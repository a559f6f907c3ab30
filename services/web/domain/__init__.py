"""The web console's rules: accounts, sessions, what a person may see and do. Pure."""
