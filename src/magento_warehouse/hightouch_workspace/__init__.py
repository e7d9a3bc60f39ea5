"""Hightouch as the source of truth for the syncs: the exposures file generated from the workspace, and its checks."""
