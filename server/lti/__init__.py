"""LTI 1.3: tool and platform keys, id_token verification, registration, the endpoints."""
