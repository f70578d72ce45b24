"""Keystone v3: identity, tokens, the service catalog."""
