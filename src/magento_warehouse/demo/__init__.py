"""The demo: the Magento change-log simulator, a Hightouch stand-in and the demo loop."""
