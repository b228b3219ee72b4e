"""Integration tests of the credential-free network probes and the lab listeners they meet."""
