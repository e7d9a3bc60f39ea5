"""The Snowflake emulator harness (fakesnow): `emulated_snowflake` starts an emulated
Snowflake with the landing tables and runs dbt in it; emulator_gaps.yml lists every
statement the emulator runs differently, and why."""

from magento_warehouse.devtools.emulator.harness import (
    EmulatedSnowflake,
    chosen_tables,
    emulated_snowflake,
    runner_arguments,
)

__all__ = ["EmulatedSnowflake", "chosen_tables", "emulated_snowflake", "runner_arguments"]
