"""The OpenID Connect provider on Authlib's server components (README: the endpoints)."""
