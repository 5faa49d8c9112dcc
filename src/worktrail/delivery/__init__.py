"""Pushing events to other servers: signing (signing.py), the guard against targets inside
the network (guard.py), the HTTP client (client.py) and the styles of delivery
(styles.py), shared by the native webhooks, the vendor dialects' webhooks and the worker."""
