"""amend.evaluation"""
