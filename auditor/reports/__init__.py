"""Report formats: a scan result (`auditor.results`) rendered as HTML, JSON, Markdown, CSV,
JUnit, SARIF or the console summary, all behind one interface. It imports results and
plumbing only."""
