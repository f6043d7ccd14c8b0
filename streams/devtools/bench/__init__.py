"""`jobstream bench`: the worker against a Kafka-only ceiling and a Letta-style baseline, in one run."""
