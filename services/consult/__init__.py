"""Consult: consultations, polls with secret and verifiable ballots, and three-party
resolutions of a compound (党组织 + 业委会 + 物业)."""
