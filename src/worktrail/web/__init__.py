"""What every HTTP API of the service shares: the service objects and request dependencies
(services.py, deps.py), parameter parsing (params.py), error rendering (problems.py),
organization settings (org_settings.py), rate limiting, the request context middleware,
the live-feed wake-up (commits.py) and the native renderings of events (render.py)."""
