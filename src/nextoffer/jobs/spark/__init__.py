"""Batch jobs on Apache Spark (``--engine spark``): the same results as the local jobs, from
Parquet files that Spark reads in parallel, on one machine (``local[2]``) or a cluster."""
