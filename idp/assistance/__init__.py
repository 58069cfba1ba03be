"""The Assistance (helpdesk) actions, shared by the CLI and the console."""
