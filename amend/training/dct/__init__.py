"""amend.training.dct"""
