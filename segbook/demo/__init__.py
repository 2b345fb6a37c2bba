"""The embedded demo: synthetic phantoms, a brief STU-Net-S pre-training, and the demo run.

Everything here is generated from a seed, on the CPU, with no downloads. The data are
synthetic and say so: they exercise the pipeline, they measure nothing about real anatomy.
"""
