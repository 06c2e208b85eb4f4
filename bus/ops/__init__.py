"""What SREs do to a running bus: inspect and replay dead letters, trace an order."""
