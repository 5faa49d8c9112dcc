"""The read door (reader.py): every read of an organization's history goes through a
`Reader`, which authorizes once and pages; cursors (cursor.py) carry positions to clients.
"""

from ..model import EventQuery
from .cursor import CursorCodec, InvalidCursor, decode_cursor, decode_position, encode_position
from .reader import EntityHidden, EventPage, Reader, parse_event, run_query, run_query_stored

__all__ = [
    "CursorCodec",
    "EntityHidden",
    "EventPage",
    "EventQuery",
    "InvalidCursor",
    "Reader",
    "decode_cursor",
    "decode_position",
    "encode_position",
    "parse_event",
    "run_query",
    "run_query_stored",
]
