"""Offline engines: loopback servers speaking the four protocols, with synthesized audio."""
