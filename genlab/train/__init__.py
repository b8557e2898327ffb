"""What a run is and how it trains: the config, the one loop, step-size schedules, compute accounting, TensorBoard."""
