"""The web console: the one service people's browsers talk to. It owns staff accounts and
sessions only; cases, tasks, messages and entries stay with the services that own them and are
reached through their HTTP APIs with a short-lived token carrying the person's own scope."""
