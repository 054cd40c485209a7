"""Alerts: channels (Slack, a JSON webhook, email), what fires per source, the messages and
how they are sent. The loop that runs them lives in `serve` (service/alert_monitor.py)."""
