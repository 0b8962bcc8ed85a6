"""Incident tracker: a small example service for imagebuild's python-alpine recipe."""
