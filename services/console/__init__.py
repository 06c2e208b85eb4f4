"""console: a web console over the bus: find an order, follow its journey, see dead letters and flow."""

SERVICE = "console"
