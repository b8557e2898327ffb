"""Drawing and telling: image grids and charts, per-run figures, aggregation, findings, the report pages."""
