"""Integrity beyond the hash chain, with no database in sight: the RFC 9162 Merkle tree of
each organization's events (merkle.py), signed notes and checkpoints in the C2SP formats
(note.py, checkpoint.py), the signing key's file (keys.py), offline bundles (bundle.py) and
the witness (witness.py). The store keeps the tree's nodes; everything here is usable with
nothing but the files a verifier was given."""
