"""The OpenID Connect provider (SPEC 2) on Authlib's server components."""
