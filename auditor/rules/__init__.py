"""The rule pack: YAML rules loaded strictly, their fixtures, compliance mappings and the
generated catalogue; rules are data, evaluated by `auditor.engine`. It imports facts,
results, the engine (its layer: loading compiles, fixtures evaluate) and plumbing."""
