"""Files auditor writes for users to start from."""
