"""Magento 2 change logs as Streamkap lands them: the landing-table contract
(`schema`) and a deterministic shop simulator that fills it (`simulator`)."""
