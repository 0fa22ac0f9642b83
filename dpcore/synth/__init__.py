"""Synthesizers: choose and measure marginals under a zCDP budget, fit a model, sample rows."""
