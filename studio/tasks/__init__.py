"""The task engine: submit, poll, archive, resume — nothing paid for is ever lost."""
