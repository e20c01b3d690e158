"""amend.tui"""
