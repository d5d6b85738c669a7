"""How a connector signs in to its backend (the `auth` section of a stanza). On this branch
only `mtls` (mtls.py); branch `auth` brings the other kinds and the union of them all."""
