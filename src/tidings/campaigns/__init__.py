"""Campaign runs: the scheduler loop and the coordinator of each activity."""
