"""Collectors: the only code that talks to hosts and directories, turning what they answer
into typed fact documents (`auditor.facts`); they know nothing of rules or reports."""
