"""Batch jobs: they read files or the store and run the learning code of the core."""
