"""Collectors: the only code that talks to hosts and directories, turning what they answer
into typed fact documents (`auditor.facts`). They may import plumbing (`auditor.wire` for
protocol bytes), facts and, for the WinRM request, the rule model; nothing that evaluates,
reports, stores or runs a scan."""
