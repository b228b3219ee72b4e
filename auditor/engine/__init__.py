"""The evaluation engine: rules (`auditor.rules`) applied to fact documents (`auditor.facts`)
as pure CEL functions, giving results (`auditor.results`); no I/O."""
