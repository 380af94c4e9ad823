"""Crisis Desk: runs a company's social-media crisis-communication plan in chat."""

__version__ = "0.1.0"
