"""Schemathesis serializers for what it has none of: an audio part of a
multipart form (the speech model's `audio`, declared `audio/*`). The part
goes on the wire as the bytes schemathesis generated, as its own image
serializer sends them. Loaded by server/tests/api_docs.rs through
SCHEMATHESIS_HOOKS."""
import schemathesis


@schemathesis.serializer("audio/wav")
def audio(ctx, value):
    return {"data": value if isinstance(value, bytes) else str(value).encode()}
