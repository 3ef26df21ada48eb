"""Running the bot: the health and metrics server, metrics, the heartbeat file, logging."""
