"""Offline evaluation against human labels (metrics, baselines, reports). Uses `quality`; never the reverse."""
