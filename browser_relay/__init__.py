"""Browser Relay: DSN keys, CORS and source maps in front of the tracker and collector."""

from browser_relay.app import SERVICE

__all__ = ["SERVICE"]
