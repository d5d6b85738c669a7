"""Who is calling: bearer JWTs from trusted issuers (the local key, identity providers'
JWKS) become Principals; refusals say which check failed. Layout:

- `errors`: AuthError (401), MissingToken, InsufficientScope (403)
- `settings`: the `identity.issuers` and `identity.jwks` config models
- `jwks`: one issuer's key cache (fetch, Cache-Control, background refresh, unknown kid)
- `issuers`: the trusted issuers by `iss`, local and remote
- `claims`: verified claims to Principal (roles, tenant, scopes, client, actor chain)
- `verifier`: the checks in order, ending in a Principal
- `metadata`: RFC 9728 protected-resource metadata and the WWW-Authenticate challenge
"""

from gateway.identity.errors import AuthError, InsufficientScope, MissingToken
from gateway.identity.verifier import TokenVerifier, bearer_token

__all__ = ["AuthError", "InsufficientScope", "MissingToken", "TokenVerifier", "bearer_token"]
