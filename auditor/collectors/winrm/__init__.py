"""Host facts over WinRM: WS-Man configuration plus one PowerShell pipeline."""
