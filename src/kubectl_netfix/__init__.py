"""kubectl-netfix: find and fix Kubernetes networking footguns."""

__version__ = "0.1.0"
