"""amend.training"""
