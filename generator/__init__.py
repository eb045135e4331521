"""almgen: one declarative spec to the complete lifecycle of an Azure AI service."""

__version__ = "0.1.0"
