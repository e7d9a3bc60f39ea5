"""Magento 2 change logs as Streamkap lands them: the landing-table contract
(`schema`, from Magento's own column definitions in `magento_columns.json`) and a
deterministic shop simulator that fills it (`simulator`, which orchestrates the
shop's domain modules)."""
