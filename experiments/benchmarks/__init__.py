"""Side-by-side performance measurements against peer libraries; results go to JSON files in
``experiments/benchmarks/results/``. Peers are not runtime dependencies: install them with
``pip install -e ".[bench]"``."""
