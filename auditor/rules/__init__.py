"""The rule pack: YAML rules loaded strictly, their fixtures, compliance mappings and the
generated catalogue; rules are data, evaluated by `auditor.engine`."""
