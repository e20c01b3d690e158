"""The `amend` subcommands, one module per group. Each imports only click and amend's light
modules at the top; torch, transformers and the store are imported inside the commands that use
them, so `amend --help` stays fast."""
