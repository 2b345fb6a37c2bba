"""`segbook predict`: apply a trained cell to new scans (models, inputs, the predict receipt).

No torch or nnunetv2 here; the prediction itself runs in segbook.nnunet.predict_cases.
"""
