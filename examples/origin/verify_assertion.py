#!/usr/bin/env python3
"""Verify an edge-auth gateway assertion (X-Edge-Auth-Assertion) in Python with PyJWT.

    python3 verify_assertion.py <assertion> <audience> <jwks_url> <issuer>

prints the verified claims as JSON, or exits 1 with the reason. Use verify_assertion() in your
own origin (Flask, Django, FastAPI...): cache one PyJWKClient per process.
Needs PyJWT with cryptography (Debian: python3-jwt; pip: "pyjwt[crypto]").
"""
import json
import sys

import jwt
from jwt import PyJWKClient

ASSERTION_TYPE = "edge-auth-assertion+jwt"


def verify_assertion(token: str, audience: str, jwks: PyJWKClient, issuer: str) -> dict:
    # The typ check keeps edge-auth's access tokens (typ at+jwt) from passing as assertions.
    if jwt.get_unverified_header(token).get("typ") != ASSERTION_TYPE:
        raise jwt.InvalidTokenError("not an edge-auth assertion")
    key = jwks.get_signing_key_from_jwt(token).key
    return jwt.decode(
        token,
        key,
        algorithms=["ES256"],  # pinned: never taken from the token
        audience=audience,  # this origin's upstream, exactly as the route table names it
        issuer=issuer,  # edge-auth's JWT_ISSUER
        leeway=5,
        options={"require": ["exp", "iat", "iss", "aud", "jti"]},
    )


if __name__ == "__main__":
    assertion, audience, jwks_url, issuer = sys.argv[1:5]
    try:
        claims = verify_assertion(assertion, audience, PyJWKClient(jwks_url), issuer)
    except jwt.PyJWTError as err:
        print(f"refused: {type(err).__name__}: {err}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(claims))
