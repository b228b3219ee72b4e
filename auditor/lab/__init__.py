"""The lab: real protocol peers on loopback (a Samba AD DC, emulated Windows hosts) for the
demo, the tests and the benchmarks. It may import the product; the product never imports it
(only the `auditor lab` command does; a test keeps it so)."""
