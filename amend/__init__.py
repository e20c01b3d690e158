"""amend: a terminal assistant whose knowledge its user can edit.

Importing the package sets amend's OpenMP defaults (amend.machine.prepare_threads) before
anything can import torch; the user's own environment variables win.
"""

from amend.machine import prepare_threads

prepare_threads()
