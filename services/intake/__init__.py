"""Intake: takes residents' reports and service requests and publishes issue events."""
