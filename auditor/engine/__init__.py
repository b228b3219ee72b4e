"""The evaluation engine: rules (`auditor.rules`) applied to fact documents (`auditor.facts`)
as pure CEL functions, giving results (`auditor.results`); no I/O. It shares its layer with
`auditor.rules` (loading a rule compiles its CEL) and imports those three and plumbing."""
