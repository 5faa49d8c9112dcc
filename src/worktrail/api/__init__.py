"""The native API under /api/v1: histories (events.py, stream.py), entities
(entities.py), sidecar ingest (ingest.py) and the organization (organization.py)."""
