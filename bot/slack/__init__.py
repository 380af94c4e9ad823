"""The Slack adapter: parses Slack input, calls the domain core, renders what happened as Block Kit."""
