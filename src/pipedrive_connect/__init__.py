"""pipedrive-connect: a Pipedrive connector runtime for workflow-automation platforms."""

__version__ = "0.1.0"
