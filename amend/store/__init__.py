"""amend.store"""
