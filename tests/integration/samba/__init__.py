"""Integration tests against a real Samba AD DC (Debian samba packages)."""
