"""zero-db's verifiable chain: an RFC 6962 Merkle log per namespace, signed heads, proofs.

merkle.py (pure math), leaf.py (what a leaf commits to), signing.py (keys, signed heads) and
trust.py (a client's pinned key and last trusted heads) are shared by servers and clients;
log.py (the files of a namespace's log), verify.py and anchor.py are the server/tool side.
Importing this package loads nothing.
"""
