"""Developer tools: benchmarks, the Snowflake emulator harness and its check."""
