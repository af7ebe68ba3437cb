"""Serve: scoring with the champion (and the shadow): batch scoring of a curated day into the prediction log."""
