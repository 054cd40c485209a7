"""Alerts from `serve`: channels (Slack, a JSON webhook, email), what fires per source, and the
loop that records incidents and sends their messages."""
