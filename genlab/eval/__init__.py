"""Measuring: metric functions and specs, the judge (shipped ensemble, junk), code samplers, evaluation."""
