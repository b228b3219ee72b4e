"""Files auditor writes for users to start from (data only: it imports nothing)."""
