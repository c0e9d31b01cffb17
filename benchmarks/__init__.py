"""Accuracy, time and memory benchmarks for vlmtsc (not installed with it)."""
