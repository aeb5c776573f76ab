"""mbrl: model-based planning and control toolkit (learning side; planners live in `planners`)."""

__version__ = "0.1.0"
