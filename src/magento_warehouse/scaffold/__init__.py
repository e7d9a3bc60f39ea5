"""The operator's tool: sources and current-state models from the landing schema."""
