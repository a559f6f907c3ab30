"""HTTP plumbing: the error format, health endpoints, metrics and limits."""
