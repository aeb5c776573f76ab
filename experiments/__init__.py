"""User-facing jobs: CLI entry points, YAML presets and benchmarks."""
