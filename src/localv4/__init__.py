"""localv4: DeepSeek V4-Flash on your own hardware, in one command."""

__version__ = "0.1.0"
