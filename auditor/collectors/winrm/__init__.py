"""Host facts over WinRM: WS-Man configuration plus one PowerShell pipeline.

It imports plumbing, facts, `collectors.sddl` and, to build the request, the rule model."""
