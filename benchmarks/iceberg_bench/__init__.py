"""Parts of benchmarks/bench_iceberg.py: the tables it builds, the guide's loop it times, the exporter process it scrapes."""
