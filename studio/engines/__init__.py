"""The cloud engines the studio drives: identity, credentials, and (later) specs."""
