"""Entry for nnU-Net's trainer discovery (`nnUNet_extTrainer` points at this folder).

nnU-Net imports every module in the folder by path; the classes live in a regular module
so they have one identity whether nnU-Net or the kit imports them.
"""

from segbook.nnunet.trainer_classes import *  # noqa: F403
from segbook.nnunet.trainer_classes import __all__  # noqa: F401
