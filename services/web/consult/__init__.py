"""Consult's pages on the web: residents' polls, ballots and comments, the paper-code ballot,
the public results, and the staff's polls, moderation and three-party resolutions."""
