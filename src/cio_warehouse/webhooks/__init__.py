"""Customer.io's Reporting Webhook: signatures, receiver, durable inbox, routing, loading."""
