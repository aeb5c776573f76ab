"""Utilities: atomic files, checkpoints, configs, seeding and run folders."""
