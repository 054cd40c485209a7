"""Customer.io's Reporting Webhook: signatures, the receiver, the durable inbox, routing, loading."""
