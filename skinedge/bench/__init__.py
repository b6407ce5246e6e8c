"""Benchmarks: latency, memory, size, FLOPs and accuracy of every artifact and baseline."""
