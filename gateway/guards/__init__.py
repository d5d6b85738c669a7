"""Abuse resistance: bounded resources and load shedding in front of the pipeline."""
