"""amend.tui: the Textual terminal UI behind `amend chat` (the only package that imports textual).

`app.run_app(services, session_id)` runs it; `wiring.real_services(settings)` connects it to the
store, the assistant and the training worker. See docs/TUI.md.
"""
