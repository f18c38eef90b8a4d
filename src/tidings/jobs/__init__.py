"""Import and export jobs: the background service and the runs it drives."""
