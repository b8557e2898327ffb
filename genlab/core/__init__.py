"""Leaves every layer uses: errors, bounds, safe reading of untrusted files, names, cache paths, progress bars,
devices, the headless browser."""
