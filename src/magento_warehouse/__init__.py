"""The Magento 2 warehouse's Python, by role.

- runner: what runs in production (dbt, then the Hightouch syncs the run fed);
- scaffold: the operator's tool that adds a landing table's source and model;
- demo: the Magento change-log simulator, a Hightouch stand-in and the demo loop;
- devtools: benchmarks, the Snowflake emulator harness and `make snowflake-check`.
"""
