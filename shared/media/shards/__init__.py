"""Pulling WebDataset tar shards into the videos bucket."""
