"""Deterministic demo data: an Indian marketplace with known defects and a ground-truth manifest."""
