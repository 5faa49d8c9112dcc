"""worktrail: the complete change history of work-management data."""

__version__ = "0.1.0"
