"""The wire contract: vocabulary, commands, events and the pure lifecycle rules (spec §1-5)."""
