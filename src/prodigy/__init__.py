"""prodigy: resumable YAML workflows of shell and AI-agent commands."""

__version__ = "0.1.0"
