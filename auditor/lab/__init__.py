"""The lab: real protocol peers on loopback (a Samba AD DC, emulated Windows hosts) for the
demo, the tests and the benchmarks, kept apart from the scanner (docs/architecture.md).
It may import plumbing (`auditor.wire` included), facts and the published data listed in
tests/unit/test_lab_separation.py; of the product, only the `auditor lab` command imports it."""
