"""DICOM trees for `segbook prepare`: image series found and ordered by their headers, DICOM-SEG and RTSTRUCT
label objects rasterised onto the series they reference and mapped to label values by segment/ROI name.

index.py reads the headers (and caches them), series.py reads a series' voxels, seg.py and rtstruct.py
build the label maps, cases.py pairs label objects with series into cases, layout.py is what
segbook.convert.layouts and segbook.convert.readers call. File and folder names are never interpreted.
"""
