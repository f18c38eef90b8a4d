"""Pure logic with no I/O: ids and dates, endpoints, segments, campaigns."""
