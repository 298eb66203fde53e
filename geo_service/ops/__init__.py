"""Running the service: request ids, JSON logs, metrics, limits, readiness, error replies."""
