"""The wire contract: vocabulary, commands, events and the pure lifecycle rules (docs/contract.md §1-5)."""
