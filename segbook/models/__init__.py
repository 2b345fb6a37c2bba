"""STU-Net in plain torch and its checkpoint loader (torch only; nnunetv2 is never imported here).

Import the submodules directly (``segbook.models.stunet``, ``segbook.models.checkpoint``); this
package imports nothing at import time so that ``segbook --help`` stays torch-free.
"""
