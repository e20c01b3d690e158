"""amend.assistant"""
