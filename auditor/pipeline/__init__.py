"""Where a scan runs: `plan.build` reads the configuration and flags once into a ScanPlan, and
`run.run` takes it through collection, evaluation, waivers, history and reports to an exit code.
May import everything but `cli` and `lab`."""
