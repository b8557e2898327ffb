"""Studies as data, their requests, and the executors that run them (local workers, Ray)."""
