"""Plumbing every layer uses: events, stop / pause control, job processes and the job table, locks, atomic writes, output folders, per-user paths, the device and precision, downloads."""
