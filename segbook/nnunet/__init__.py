"""The ONLY package that imports nnunetv2: environment, version check, trainers, steps.

Modules here import nnunetv2 lazily (inside functions or in modules that only nnU-Net's own
processes load), so importing segbook.nnunet is cheap.
"""
