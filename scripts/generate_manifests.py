#!/usr/bin/env python3
"""Generate manifests/datasets/*.yaml (87 SegBook datasets + the demo) from manifests/reference/.

    python scripts/generate_manifests.py            # (re)write the manifests
    python scripts/generate_manifests.py --check    # exit 1 if a manifest differs from its source

Every fact comes from the reference CSVs (copied into manifests/reference/, see its README) or
from the tables below, each with its reason. Output is deterministic: rerunning changes nothing.
"""

from __future__ import annotations

import argparse
import ast
import csv
import sys
from collections import Counter
from pathlib import Path

import yaml
from manifest_sources import source_block  # scripts/manifest_sources.py: this script's folder is on sys.path

from segbook.catalog.schema import SCHEMA_ID
from segbook.core.configurations import PAPER_KEYS

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "manifests" / "reference"
OUT = ROOT / "manifests" / "datasets"

MODALITY = {"CT": "CT", "MRI": "MRI", "CT&PET": "PET/CT", "Ultrasound": "US"}
TARGET = {"Lesion": "lesion", "Seen Structure": "seen structure", "Unseen Structure": "unseen structure",
          "Structure&Lesion": "structure & lesion"}
FREE_ID_BASE = 900  # duplicated SegBook task numbers NN move to 9NN (see resolve_nnunet_ids)

# MSD tasks: original folder names; licence and access as stated on medicaldecathlon.com.
MSD = {f"Task{n:03d}_{name}": f"Task{n:02d}_{name}" for n, name in [
    (1, "BrainTumour"), (2, "Heart"), (3, "Liver"), (4, "Hippocampus"), (5, "Prostate"), (6, "Lung"),
    (7, "Pancreas"), (8, "HepaticVessel"), (9, "Spleen"), (10, "Colon")]}
MSD_MIRROR = "https://msd-for-monai.s3-us-west-2.amazonaws.com/{}.tar"  # public mirror MONAI uses

# Original download layouts the generic converter covers (declarative, see docs/catalog.md).
BRATS21 = {"kind": "case_folders", "name": "BraTS 2021 case folders", "cases": "BraTS2021_*",
           "channels": ["{case}_t1.nii.gz", "{case}_t1ce.nii.gz", "{case}_t2.nii.gz", "{case}_flair.nii.gz"],
           "label": "{case}_seg.nii.gz",
           # BraTS 1 necrosis/NET, 2 edema, 4 enhancing -> SegBook 1 edema, 2 non-enhancing, 3 enhancing
           "label_map": {1: 2, 2: 1, 4: 3}}
BRATS15 = {"kind": "case_folders", "name": "BraTS 2015 HGG/LGG folders", "cases": "*/brats_*",
           "channels": ["*.MR_Flair.*/*.mha", "*.MR_T1.*/*.mha", "*.MR_T1c.*/*.mha", "*.MR_T2.*/*.mha"],
           "label": "*.OT.*/*.mha"}


def brats23(family: str) -> dict:
    return {"kind": "case_folders", "name": f"BraTS 2023 {family} case folders", "cases": f"BraTS-{family}-*",
            "channels": ["{case}-t1n.nii.gz", "{case}-t1c.nii.gz", "{case}-t2w.nii.gz", "{case}-t2f.nii.gz"],
            "label": "{case}-seg.nii.gz"}


def kits(name: str, label: str) -> dict:
    return {"kind": "case_folders", "name": f"{name} case folders", "cases": "case_*",
            "channels": ["imaging.nii.gz"], "label": label}


AUTOPET = {"kind": "case_folders", "name": "autoPET patient/study folders", "cases": "*/*",
           "channels": ["SUV.nii.gz", "CTres.nii.gz"], "label": "SEG.nii.gz",
           "group": r"^(PETCT_[^_]+)_"}  # several studies of one patient stay on one split side


def files(name: str, channels: list[str], label: str | None = None, **extra) -> dict:
    """Image and label files named by a shared `{case}` (paths as the download names them, below its top folder)."""
    return {"kind": "files", "name": name, "channels": channels, **({"label": label} if label else {}), **extra}


def folders(name: str, cases, channels: list[str], label: str | None, **extra) -> dict:
    return {"kind": "case_folders", "name": name, "cases": cases, "channels": channels,
            **({"label": label} if label else {}), **extra}


# Download layouts from ../shared/reference/segbook/dataset_sources.csv (image_pattern, label_pattern,
# converter_notes); the fixture tests in tests/unit/test_download_layouts.py lay each one out by those names.
NIFTI_LAYOUTS = {
    "Task011_BTCV": files("BTCV RawData", ["RawData/Training/img/img{case}.nii.gz"],
                          "RawData/Training/label/label{case}.nii.gz"),
    "Task012_BTCV_Cervix": files("BTCV-Cervix RawData", ["RawData/Training/img/{case}-Image.nii.gz"],
                                 "RawData/Training/label/{case}-Mask.nii.gz"),
    "Task020_AbdomenCT1K": files("AbdomenCT-1K Images/Masks", ["Images/{case}_0000.nii.gz"],
                                 "Masks/{case}.nii.gz"),
    "Task023_FLARE22": files("FLARE22 labelled cases", ["Training/FLARE22_LabeledCase50/images/{case}_0000.nii.gz"],
                             "Training/FLARE22_LabeledCase50/labels/{case}.nii.gz"),
    "Task029_LITS": files("LiTS training batches", ["*/volume-{case}.nii"], "*/segmentation-{case}.nii"),
    "Task034_Instance22": files("INSTANCE 2022 data/label", ["train/data/{case}.nii.gz"], "train/label/{case}.nii.gz"),
    "Task036_KiPA22": files("KiPA22 train image/label", ["train/image/{case}.nii.gz"], "train/label/{case}.nii.gz"),
    "Task039_Parse22": folders("Parse22 case folders", "train/*", ["image/{case}.nii.gz"], "label/{case}.nii.gz"),
    "Task040_ATM22": files("ATM22 training batches", ["*/imagesTr/{case}_0000.nii.gz"],
                           "*/labelsTr/{case}_0000.nii.gz"),
    "Task041_ISLES2022": files("ISLES 2022 BIDS", ["rawdata/{case}/ses-0001/{case}_ses-0001_adc.nii.gz",
                                                   "rawdata/{case}/ses-0001/{case}_ses-0001_dwi.nii.gz"],
                               "derivatives/{case}/ses-0001/{case}_ses-0001_msk.nii.gz"),
    "Task044_CrossMoDA23": files("crossMoDA TrainingSource", ["TrainingSource/{case}_ceT1.nii.gz"],
                                 "TrainingSource/{case}_Label.nii.gz"),
    "Task083_VerSe2020": files("VerSe 2020 BIDS", ["rawdata/{case}/{case}_*ct.nii.gz"],
                               "derivatives/{case}/{case}_*seg-vert_msk.nii.gz"),
    "Task103_ADAM2020": folders("ADAM subject folders", "*", ["orig/TOF.nii.gz"], "aneurysms.nii.gz"),
    "Task106_AIIB2023": files("AIIB23 image/label", ["image/{case}.nii.gz"], "label/{case}.nii.gz"),
    "Task109_SMILE-UHURA2023": files("SMILE-UHURA train", ["train/{case}.nii.gz"], "train_label/{case}.nii"),
    "Task504_ATLAS": files("ATLAS 2.0 BIDS",
                           ["Training/*/{case}/ses-1/anat/{case}_ses-1_space-MNI152NLin2009aSym_T1w.nii.gz"],
                           "Training/*/{case}/ses-1/anat/"
                           "{case}_ses-1_space-MNI152NLin2009aSym_label-L_desc-T1lesion_mask.nii.gz"),
    "Task507_Myops2020": files("MyoPS 2020 train25",
                               [f"train25/myops_training_{{case}}_{c}.nii.gz" for c in ("C0", "DE", "T2")],
                               "train25_myops_gd/myops_training_{case}_gd.nii.gz",
                               # 500 LV blood pool, 600 RV blood pool, 200 LV myocardium, 1220 edema, 2221 scar;
                               # read as int64 before any cast (a uint8 cast wraps them to 244/88/200/196/173)
                               label_map={500: 1, 600: 2, 200: 3, 1220: 4, 2221: 5}),
    "Task511_ATLAS2023": files("ATLAS 2023 imagesTr/labelsTr", ["train/imagesTr/im{case}.nii.gz"],
                               "train/labelsTr/lb{case}.nii.gz"),
    "Task556_FeTA2022_all": files("FeTA 2022 BIDS", ["{case}/anat/{case}_rec-*_T2w.nii.gz"],
                                  "{case}/anat/{case}_rec-*_dseg.nii.gz"),
    "Task559_WORD": files("WORD imagesTr/labelsTr", ["imagesTr/{case}.nii.gz"], "labelsTr/{case}.nii.gz"),
    "Task603_MMWHS": files("MM-WHS 2017 ct_train", ["ct_train/ct_train_{case}_image.nii.gz"],
                           "ct_train/ct_train_{case}_label.nii.gz",
                           # myocardium, LA, LV, RA, RV, ascending aorta, pulmonary artery
                           label_map={205: 1, 420: 2, 500: 3, 550: 4, 600: 5, 820: 6, 850: 7}),
    "Task605_SegThor": folders("SegTHOR patient folders", "train/Patient_*", ["{case}.nii.gz"], "GT.nii.gz"),
    "Task611_PROMISE12": files("PROMISE12 training parts", ["*/Case{case}.mhd"], "*/Case{case}_segmentation.mhd"),
    "Task613_COVID-19-20": files("COVID-19-20 Train", ["Train/{case}_ct.nii.gz"], "Train/{case}_seg.nii.gz"),
    **{f"Task6{n}_StructSeg2019_subtask{k}": folders("StructSeg 2019 patient folders", "*", ["data.nii.gz"],
                                                      "label.nii.gz") for n, k in ((28, 1), (29, 2), (30, 3), (31, 4))},
    "Task666_MESSEG": folders("MSSEG-2 patient folders", "*", ["flair_time01_on_middle_space.nii.gz",
                                                              "flair_time02_on_middle_space.nii.gz"],
                              "ground_truth.nii.gz"),
    "Task701_LNQ2023": files("LNQ2023 NRRD", ["{case}-ct.nrrd"], "{case}-seg.nrrd"),
    "Task703_TDSC-ABUS2023": files("TDSC-ABUS DATA/MASK", ["DATA/{case}.nrrd"], "MASK/{case}.nrrd"),
}

# HaN-Seg OAR file suffixes in the order of the manifest's labels 1..30 (HaN-Seg data description,
# Podobnik et al., Med. Phys. 2023: case_XX_OAR_<name>.seg.nrrd).
HANSEG_OARS = ["A_Carotid_L", "A_Carotid_R", "Arytenoid", "Bone_Mandible", "Brainstem", "BuccalMucosa",
               "Cavity_Oral", "Cochlea_L", "Cochlea_R", "Cricopharyngeus", "Esophagus_S", "Eye_AL", "Eye_AR",
               "Eye_PL", "Eye_PR", "Glnd_Lacrimal_L", "Glnd_Lacrimal_R", "Glnd_Submand_L", "Glnd_Submand_R",
               "Glnd_Thyroid", "Glottis", "Larynx_SG", "Lips", "OpticChiasm", "OpticNrv_L", "OpticNrv_R",
               "Parotid_L", "Parotid_R", "Pituitary", "SpinalCord"]
AMOS = {"channels": ["images*/{case}.nii.gz"], "label": "labels*/{case}.nii.gz"}  # imagesTr/Va + labelsTr/Va



def dicom(name: str, modality: str, obj: str, names: dict[str, int], readers: str = "union") -> dict:
    """A DICOM tree read by header: each label object (SEG or RTSTRUCT) and the image series it references
    make one case. `names` are case-insensitive regular expressions over segment/ROI names (the exact names
    of the real downloads are not in the sources: prepare names any it leaves unmapped)."""
    return {"kind": "dicom", "name": name, "image": {"modality": modality},
            "label": {"object": obj, "names": names, "readers": readers, "exclude_automatic": True}}


DICOM_LAYOUTS = {
    "Task104_Colorectal_Liver_Metastases": dicom("CRLM CT + DICOM-SEG", "CT", "SEG",
                                                 {"liver": 1, "tumou?r.*": 2}),
    "Task105_DICOM_LIDC_IDRI_Nodules": dicom("LIDC-IDRI CT + nodule DICOM-SEGs (readers united)", "CT", "SEG",
                                             {".*": 1}),
    "Task107_HCC-TACE-Seg": dicom("HCC-TACE-Seg CT + DICOM-SEG", "CT", "SEG",
                                  {"liver": 1, "(mass|tumou?r).*": 2, "portal( vein)?": 3, "(abdominal )?aorta": 4}),
    "Task112_PROSTATEx-Seg-HiRes": dicom("PROSTATEx T2 + DICOM-SEG", "MR", "SEG", {"(whole )?prostate.*": 1}, "first"),
    "Task113_PROSTATEx-Seg-Zones": dicom("PROSTATEx T2 + zone DICOM-SEG", "MR", "SEG",
                                         {"(peripheral( zone)?|pz)": 1, "(transition( zone)?|tz)": 2,
                                          "(prostatic )?urethra": 3, "(anterior fibromuscular stroma|afs)": 4},
                                         "first"),
    "Task114_Prostate-Anatomical-Edge-Cases": dicom(
        "Prostate-Anatomical-Edge-Cases CT + RTSTRUCT", "CT", "RTSTRUCT",
        {"prostate": 1, "rectum": 2, "bladder": 3, "(femur|femoral[ _]?head)[ _]?(l|lt|left)": 4,
         "(femur|femoral[ _]?head)[ _]?(r|rt|right)": 5}),
    "Task115_QIBA-VolCT-1B": dicom("QIBA VolCT 1B CT + lesion DICOM-SEGs (first reader)", "CT", "SEG",
                                   {".*": 1}, "first"),
}
CHAOS = {"kind": "chaos", "name": "CHAOS MR (T1DUAL in/opposed phase; T2SPIR twice)", "cases": "Train_Sets/MR/*",
         # PNG grey values -> labels (nnU-Net v1's CHAOS script): liver, right kidney, left kidney, spleen
         "value_ranges": [[55, 70, 1], [110, 135, 2], [175, 200, 3], [240, 255, 4]]}
DICOM_NOTE = ("Read by DICOM header (series by SeriesInstanceUID, slices by position); each label object is "
              "rasterised onto the series it references; automatic (AI) segmentations are excluded. Segment/ROI "
              "names are matched by the patterns in this manifest: the real names are not in the sources read, so "
              "check the first prepare's report of unmapped names.")

# Layouts that need the engine's further keys: label_parts (several files make one label map; later parts
# win where they overlap), case_regex (which cases of the download belong to the task), group (a regex whose
# group(1) names the patient: cases of one patient stay on one side of the split), exclude, cases lists.
PATTERN_LAYOUTS = {
    "Task013_ACDC": files("ACDC database/training ED/ES frames", ["database/training/*/{case}.nii.gz"],
                          "database/training/*/{case}_gt.nii.gz", group=r"^(patient\d+)_frame"),
    "Task050_LAScarQS22_task1": folders("LAScarQS 2022 task1 train_data", "task1/train_data/*", ["enhanced.nii.gz"],
                                        None, label_parts=[{"file": "atriumSegImgMO.nii.gz", "value": 2},
                                                           {"file": "scarSegImgM.nii.gz", "value": 1}]),
    "Task051_LAScarQS22_task2": folders("LAScarQS 2022 task2 train_data", "task2/train_data/*", ["enhanced.nii.gz"],
                                        None, label_parts=[{"file": "atriumSegImgMO.nii.gz", "value": 1}]),
    "Task051_AMOS_CT": files("AMOS 2022 CT (ids 1-500)", **AMOS, case_regex=r"amos_0([0-4][0-9][0-9]|500)"),
    "Task052_AMOS_MR": files("AMOS 2022 MRI (ids above 500)", **AMOS,
                             case_regex=r"amos_(0(50[1-9]|5[1-9][0-9]|[6-9][0-9][0-9])|[1-9][0-9]{3})"),
    "Task053_AMOS_Task2": files("AMOS 2022 CT and MRI", **AMOS),
    "Task110_ISPY1-Tumor-SEG-Radiomics": files(
        "ISPY1 bias-corrected NIfTI + manual STV masks",
        [f"images_bias-corrected_nifti/{{case}}/{{case}}_DCE_000{k}_N3.nii" for k in range(3)],
        "masks_stv_manual/{case}.nii.gz"),
    "Task166_LongitudinalMultipleSclerosisLesionSegmentation": files(
        "ISBI 2015 longitudinal MS (rater 1)",
        [f"**/{{case}}_{c}_pp.nii" for c in ("flair", "mprage", "pd", "t2")], "**/{case}_mask1.nii",
        group=r"^(training\d+)_"),
    "Task502_WMH": folders("WMH 2017 site/scanner/subject folders", ["training/*/*", "training/*/*/*"],
                           ["pre/FLAIR.nii.gz", "pre/T1.nii.gz"], "wmh.nii.gz"),
    "Task525_CMRxMotions": files("CMRxMotion training ED/ES", ["data/*/{case}.nii.gz"], "data/*/{case}-label.nii.gz",
                                 group=r"^(P\d+)-"),
    "Task612_CTPelvic1k": files("CTPelvic1K Zenodo subsets (dataset6/7)",
                                ["CTPelvic1K_dataset*_data/{case}_data.nii.gz"],
                                "*/{case}_mask_4label.nii.gz"),
    "Task614_LUNA16": files("LUNA16 subsets + seg-lungs", ["subset*/{case}.mhd"], "seg-lungs-LUNA16/{case}.mhd",
                            # 3 left lung, 4 right lung -> Lung; 5 trachea -> background (kit's choice)
                            label_map={3: 1, 4: 1, 5: 0}),
    "Task616_LNDb": files("LNDb data0-5 + reader masks", ["data*/{case}.mhd"], None,
                          label_parts=[{"file": "masks/{case}_rad*.mhd", "value": 1}]),
    "Task700_SEG_A_2023": files("SEG.A. 2023 source/case folders", ["*/*/{case}.nrrd"], "*/*/{case}.seg.nrrd"),
    **{task: files(f"SegRap 2023 {sub} one-hot labels",
                   ["SegRap2023_Training_Set_120cases/{case}/image.nii.gz",
                    "SegRap2023_Training_Set_120cases/{case}/image_contrast.nii.gz"],
                   f"SegRap2023_Training_Set_120cases_OneHot_Labels/{sub}/{{case}}.nii.gz")
       for task, sub in (("Task701_SegRap2023", "Task001"), ("Task702_SegRap2023_Task2", "Task002"))},
    "Task702_CAS2023": {"kind": "nnunet", "name": "CAS2023 nnU-Net download"},
    "Task711_autoPET_PET_only": AUTOPET, "Task712_autoPET_CT_only": AUTOPET,
    "Task720_HIE2023": files("BONBID-HIE ADC/ZADC/LABEL", ["1ADC_ss/{case}-VISIT_*-ADC_ss.*",
                                                           "2Z_ADC/Zmap_{case}-VISIT_*-ADC_smooth2mm_clipped10.*"],
                             "3LABEL/{case}_lesion.*"),
    "Task966_HaN-Seg": folders("HaN-Seg set_1 case folders", "set_1/case_*", ["{case}_IMG_CT.nrrd"], None,
                               label_parts=[{"file": f"{{case}}_OAR_{oar}.seg.nrrd", "value": i + 1,
                                             "optional": True} for i, oar in enumerate(HANSEG_OARS)],
                               exclude=["set_1_case_19"]),
}

ORIGINAL_LAYOUTS = {
    "Task019_BraTS21": BRATS21, "Task503_BraTs2015": BRATS15,
    "Task894_BraTS2023_MET": brats23("MET"), "Task895_BraTS2023_SSA": brats23("SSA"),
    "Task896_BraTS2023_PED": brats23("PED"), "Task898_BraTS2023_MEN": brats23("MEN"),
    "Task899_BraTS2023_GLI": brats23("GLI"),
    "Task021_KiTS2021": kits("KiTS21", "aggregated_MAJ_seg.nii.gz"),
    "Task044_KiTS23": kits("KiTS23", "segmentation.nii.gz"), "Task710_autoPET": AUTOPET,
    **NIFTI_LAYOUTS, **PATTERN_LAYOUTS, **DICOM_LAYOUTS, "Task037_CHAOS_Task_3_5_Variant1": CHAOS,
}
# What is unknown about the downloads the kit cannot prepare yet (they come in as nnU-Net folders).
UNKNOWN_LAYOUT_NOTES = {
    "Task108_ISBI-MR-Prostate-2013": "Download layout unknown to the kit: the images are DICOM (TCIA Prostate-3T, "
                                     "PROSTATE-DIAGNOSIS) and the NRRD labels a separate ZIP whose label values are "
                                     "undocumented; prepare from an nnU-Net folder.",
    "Task111_LUAD-CT-Survival": "Download layout unknown: the collection is not in IDC v25 and no source read gives "
                                "its label format; prepare from an nnU-Net folder.",
    "Task116_ISPY1": "Download layout unknown: IDC holds several SEG families (breast tissue, PE thresholds, VOI) "
                     "and no source says how SegBook built its 820 cases; prepare from an nnU-Net folder.",
    "Task601_CTSpine1K_Full": "Download layout unknown: the label file names of the four sources are not in the "
                              "sources read (and folder names differ from the data's); prepare from an nnU-Net "
                              "folder.",
    "Task606_orCaScore": "Download layout unknown: file names are not in the sources read (MHD, two CTs per "
                         "patient); prepare from an nnU-Net folder.",
    "Task615_Chest_CT_Scans_with_COVID-19": "Download layout unknown (see the identity note); prepare from an "
                                            "nnU-Net folder.",
    "Task704_ToothFairy2023": "Not prepared from the download: its .npy volumes carry no voxel size or origin and "
                              "no source read gives them; convert to NIfTI with the known spacing, then prepare "
                              "from an nnU-Net folder.",
}
LAYOUT_NOTES = {
    **UNKNOWN_LAYOUT_NOTES,
    "Task037_CHAOS_Task_3_5_Variant1": "Each patient gives a T1DUAL case (in-phase, opposed-phase) and a T2SPIR "
                                       "case (the T2 twice), 40 in all; series and slices are read by DICOM header, "
                                       "in/opposed phase by EchoTime; PNG k is the slice with the k-th "
                                       "InstanceNumber (assumed from the export order; nnU-Net v1 reverses the "
                                       "stack against dicom2nifti's slice order); grey-value ranges map to labels.",
    **{task: DICOM_NOTE for task in DICOM_LAYOUTS},
    "Task105_DICOM_LIDC_IDRI_Nodules": DICOM_NOTE + " Every reader's nodule SEGs of a series are united; CTs "
                                       "without a nodule SEG are not cases (SegBook's 1018 counts CT series).",
    "Task115_QIBA-VolCT-1B": DICOM_NOTE + " Of the five readers, the first SEG by series number is the label "
                             "(kit's choice; SegBook's rule is not documented).",
    "Task013_ACDC": "Each patient gives two cases (the ED and ES frames, patientNNN_frameXX); the 4D cine "
                    "(_4d.nii.gz) is not read; both frames of a patient stay on one side of the split.",
    "Task050_LAScarQS22_task1": "The label is assembled from two files: atriumSegImgMO (left atrium, 2) then "
                                "scarSegImgM (scar, 1); where they overlap the scar wins.",
    "Task051_LAScarQS22_task2": "atriumSegImgMO's non-zero voxels are the left atrium (1).",
    "Task051_AMOS_CT": "CT cases are ids 1-500 (the SAT rule; nnU-Net v2's AMOS script uses 410 for imagesTr); "
                       "imagesVa/labelsVa are merged into training; imagesTs has no labels.",
    "Task052_AMOS_MR": "MRI cases are ids above 500; imagesVa/labelsVa are merged into training.",
    "Task053_AMOS_Task2": "All labelled CT and MRI cases (imagesTr + imagesVa), one channel.",
    "Task110_ISPY1-Tumor-SEG-Radiomics": "The manual masks (masks_stv_manual) are the label; masks_ftv and the "
                                         "automatic masks_stv_resunet are not read.",
    "Task166_LongitudinalMultipleSclerosisLesionSegmentation":
        "Read by the ISBI 2015 file names (nnU-Net v1 Task035) wherever they lie below --raw; rater 1's mask "
        "(_mask1) is the label (kit's choice: nnU-Net v1 made one case per rater); the timepoints of one patient "
        "stay on one side of the split.",
    "Task502_WMH": "Subjects lie at two depths (site/subject and site/scanner/subject); the registered pre/ FLAIR "
                   "and T1 are the channels; label 2 (other pathology) is kept.",
    "Task525_CMRxMotions": "Images without a -label file are not read; the singleton 4th axis of the files is "
                           "dropped; the scans of one volunteer (P001-1..) stay on one side of the split.",
    "Task612_CTPelvic1k": "Only the subsets whose images are on Zenodo (dataset6/7 CLINIC) are laid out; subsets "
                          "1-5 pair masks with images from five other downloads: prepare them from an nnU-Net folder.",
    "Task614_LUNA16": "seg-lungs-LUNA16 masks: 3 left and 4 right lung become Lung (1); 5 (trachea) becomes "
                      "background (kit's choice; SegBook's handling is not documented).",
    "Task616_LNDb": "The label is the union of the radiologists' masks (masks/<case>_rad*.mhd, as SAT does); "
                    "scans without a mask are not used.",
    "Task700_SEG_A_2023": "Cases are named by file (D1, K1, R1), not by folder (Rider folders are like 'R1 (AAA)').",
    **{t: "Channels: image.nii.gz (non-contrast) as _0000, image_contrast.nii.gz as _0001 (order assumed); the "
          "multi-class OneHot_Labels folder is read, not the per-structure files."
       for t in ("Task701_SegRap2023", "Task702_SegRap2023_Task2")},
    "Task702_CAS2023": "The download is already an nnU-Net raw folder (imagesTr/labelsTr + dataset.json).",
    "Task711_autoPET_PET_only": "Same files as Task710 (SUV, CTres); the studies of one patient stay on one side "
                                "of the split. SegBook's selection of 500 studies is not documented: all are read.",
    "Task712_autoPET_CT_only": "Same files as Task710 (SUV, CTres); the studies of one patient stay on one side "
                               "of the split.",
    "Task720_HIE2023": "ADC_ss and Z_ADC are paired by the MGHNICU id; the file extension is matched loosely "
                       "(descriptions disagree between .mha and .nii.gz).",
    "Task966_HaN-Seg": "One .seg.nrrd per OAR is merged into one map in label order (a later OAR wins where two "
                       "overlap; a missing OAR is empty); case_19 (image/mask mismatch) is excluded; the MR is "
                       "not read (not aligned to the CT).",
    "Task710_autoPET": "Channel order follows SegBook's listing (PET, CT): SUV as _0000, CTres as _0001; the "
                       "studies of one patient stay on one side of the split.",
    **{t: "BraTS 2023 channel order assumed by analogy with Task019 (T1, T1c, T2, FLAIR)."
       for t in ("Task894_BraTS2023_MET", "Task895_BraTS2023_SSA", "Task896_BraTS2023_PED",
                 "Task898_BraTS2023_MEN", "Task899_BraTS2023_GLI")},
    "Task023_FLARE22": "The download's labelled folder holds 50 cases; SegBook lists 70 (tuning cases too?): "
                       "unverified.",
    "Task029_LITS": "Both 'Training Batch' folders are read; the same CTs are MSD Task03 (its tar needs no login).",
    "Task036_KiPA22": "Images are read as stored. The SAT converter subtracts 1000 (intensities stored offset "
                      "from HU); whether SegBook did is unknown. nnU-Net's CT normalisation (foreground percentile "
                      "clip, then z-score) cancels a constant offset up to float rounding.",
    "Task559_WORD": "The download is a password-protected zip: unpack it with the password its owners send, then "
                    "pass the folder as --raw.",
    "Task040_ATM22": "Label files carry the _0000 suffix like the images (as the SAT converter reads them).",
    "Task083_VerSe2020": "nnU-Net v1 reorients VerSe to RAS before training; the kit keeps each file's own "
                         "orientation (its content hash is orientation-aware).",
    "Task109_SMILE-UHURA2023": "Labels are uncompressed .nii; train_OMELETTElabel/ and train_plausiblelabel/ "
                               "are not read.",
    "Task507_Myops2020": "Raw label values 500/600/200/1220/2221 are remapped as read (before any cast).",
    "Task603_MMWHS": "Raw label values 205...850 are remapped to 1...7 as read.",
}
# Identity problems of the catalog's sources (../shared/reference/segbook/dataset_sources.md).
IDENTITY_NOTES = {
    "Task103_ADAM2020": "Identity: the task is the TOF-MRA aneurysm challenge ADAM (adam.isi.uu.nl, 113 training "
                        "cases; 1 untreated, 2 treated aneurysm); the homepage amd.grand-challenge.org is a "
                        "different dataset (iChallenge-ADAM fundus photographs).",
    "Task166_LongitudinalMultipleSclerosisLesionSegmentation":
        "Identity: 4 channels FLAIR/T1/PD/T2, a binary lesion label and about 21 cases match the ISBI 2015 "
        "longitudinal MS lesion challenge (nnU-Net v1 Task035), not CuRIOUS2019; which rater's mask SegBook used "
        "is not documented.",
    "Task666_MESSEG": "Identity: 2 FLAIR channels and 40 cases match MSSEG-2 (MICCAI 2021 new-lesion task), "
                      "not MSseg 2008 (20 training cases, FLAIR/T1/T2 as NRRD).",
    "Task615_Chest_CT_Scans_with_COVID-19": "Identity: the catalog's link is a 2D Tianchi classification set; "
                                            "the real source, its layout and licence are unknown.",
    **{f"Task6{n}_StructSeg2019_subtask{k}": f"Identity: SegBook subtask{k} corresponds to StructSeg 2019 official "
                                             f"{official}; links that follow the subtask number point elsewhere."
       for n, k, official in ((29, 2, "Task3 (thoracic OAR)"), (30, 3, "Task4 (lung GTV)"),
                              (31, 4, "Task2 (nasopharynx GTV)"))},
    "Task701_LNQ2023": "Identity: the label is named 'Pulmonary nodule' but the data are mediastinal lymph nodes.",
}

VERSE_SRC = ("VerSe label convention (github.com/anjany/verse): 1-7 C1-C7, 8-19 T1-T12, 20-25 L1-L6, "
             "26 sacrum, 27 coccyx, 28 T13")
SHIFTED_T = {9 + i: f"Vertebrae T{2 + i}" for i in range(8)}  # labels 9..16 are T2..T9
# task -> {label value: (correct name, why, source)}; only where the right name is public knowledge.
LABEL_FIXES = {
    "Task005_Prostate": {2: ("Prostate transition zone", "label 2 of MSD Prostate is the transition zone",
                             "MSD Task05_Prostate dataset.json: labels 1 PZ, 2 TZ")},
    "Task105_DICOM_LIDC_IDRI_Nodules": {1: ("Lung nodule", "LIDC-IDRI annotates lung nodules",
                                            "TCIA LIDC-IDRI collection description")},
    "Task013_ACDC": {3: ("Left ventricle", "ACDC label 3 is the left-ventricular cavity",
                         "ACDC database description: 1 RV cavity, 2 myocardium, 3 LV cavity")},
    "Task083_VerSe2020": {**{k: (v, "names of labels 9-16 were shifted (T9 missing, T13 misplaced)",
                                 VERSE_SRC) for k, v in SHIFTED_T.items()},
                          27: ("Coccyx", "spelling", VERSE_SRC), 28: ("Vertebrae T13", "naming", VERSE_SRC)},
    "Task601_CTSpine1K_Full": {k: (v, "names of labels 9-16 were shifted (T9 missing, T13 misplaced)",
                                   "CTSpine1K uses the VerSe label convention (1-7 C, 8-19 T, 20-25 L)")
                               for k, v in SHIFTED_T.items()},
    "Task701_SegRap2023": {36: ("Left temporal lobe", "labels 36 and 37 were both 'Right temporal lobe'; "
                                "every other left/right pair lists left first", "SegRap2023 OAR list")},
}
TYPOS = {"Bain stem": "Brain stem"}
DISPLAY_FIXES = {"Task603_MMWHS": ("MM-WHS", "https://zmiclab.github.io/zxh/0/mmwhs/",
                                   "task id and its seven heart classes are MM-WHS's; 'CAD-PE' (and its "
                                   "homepage) is a pulmonary-embolism dataset",
                                   "MM-WHS challenge: LV myocardium, LA, LV, RA, RV, ascending aorta, "
                                   "pulmonary artery")}


def read_csv(name: str) -> list[dict]:
    with open(REFERENCE / name, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def norm_key(task: str) -> str:
    return task.replace("-", "_").casefold()


def class_groups() -> dict[str, set[str]]:
    """per_class/<Group>.csv header -> the class names (English part) it holds."""
    groups = {}
    for path in sorted((REFERENCE / "per_class").glob("*.csv")):
        with open(path, encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle))
        groups[path.stem.replace("_", " ")] = {h.split("--")[0].strip().casefold() for h in header[1:]}
    return groups


def regions_for(names: list[tuple[str, str]], groups: dict[str, set[str]]) -> list[str]:
    """Groups holding the dataset's classes, most classes first, ties alphabetical.

    Each class is looked up by its corrected name, falling back to SegBook's original name.
    """
    counts: Counter = Counter()
    for corrected, original in names:
        for candidate in (corrected, original):
            hit = [g for g, members in groups.items() if candidate.strip().casefold() in members]
            if hit:
                counts.update(hit)
                break
    return sorted(counts, key=lambda g: (-counts[g], g)) or ["Others"]


def fix_labels(task: str, raw: dict) -> tuple[dict[int, str], list[dict], list[tuple[str, str]]]:
    labels, corrections, pairs = {}, [], []
    for value in sorted(int(k) for k in raw):
        original = raw[str(value)]
        name = original.strip()
        name = name[:1].upper() + name[1:]
        why, source = "whitespace/capitalisation", "SegBook's own label list"
        if name in TYPOS:
            name, why, source = TYPOS[name], "typo", "anatomical term"
        if value in LABEL_FIXES.get(task, {}):
            name, why, source = LABEL_FIXES[task][value]
        if value == 0:
            name = "background"
        if name != original:
            corrections.append({"what": f"label {value}: {original!r} -> {name!r}", "why": why,
                                "source": source})
        labels[value] = name
        if value:
            pairs.append((name, original))
    return labels, corrections, pairs


def channels_for(row: dict) -> list[dict]:
    names = [n.strip() for n in row["Modality"].split(",")]
    if len(names) != int(row["Input Channels"]):
        raise SystemExit(f"{row['Dataset']}: {len(names)} channel names for {row['Input Channels']} channels")
    # nnU-Net (v1, used by SegBook) normalises channels named CT with CTNormalization, others z-score
    return [{"name": n, "normalization": "CTNormalization" if n == "CT" else "ZScoreNormalization"}
            for n in names]


def resolve_nnunet_ids(tasks: list[str]) -> dict[str, int]:
    """Task number -> nnU-Net id; where SegBook reuses a number, the alphabetically first task keeps
    it and the others move to 900 + number (asserted free)."""
    by_number: dict[int, list[str]] = {}
    for task in sorted(tasks):
        by_number.setdefault(int(task[4:7]), []).append(task)
    ids = {}
    for number, group in by_number.items():
        ids[group[0]] = number
        for extra in group[1:]:
            ids[extra] = FREE_ID_BASE + number % 100
    values = list(ids.values()) + [999]
    if len(set(values)) != len(values):
        raise SystemExit("nnU-Net id collision: " + str(Counter(values).most_common(3)))
    return ids


def bibtex(text: str) -> str | None:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return "\n".join(lines) + "\n" if lines and lines[0] else None


def build(row, paper, info, ids, groups, short_names, sources) -> dict:
    task = row["Dataset"]
    labels, corrections, pairs = fix_labels(task, ast.literal_eval(row["Category-EN"]))
    display, homepage = paper["display_name"], (info.get("数据集主页") or "").strip() or None
    if task in DISPLAY_FIXES:
        new_display, new_home, why, source = DISPLAY_FIXES[task]
        corrections.append({"what": f"display name {display!r} -> {new_display!r}; homepage -> {new_home}",
                            "why": why, "source": source})
        display, homepage = new_display, new_home
    if ids[task] != int(task[4:7]):
        corrections.append({"what": f"nnU-Net id {int(task[4:7])} -> {ids[task]}",
                            "why": "SegBook uses this task number twice; nnU-Net needs unique dataset ids",
                            "source": "kit rule: the alphabetically first keeps it, "
                                      f"others get {FREE_ID_BASE}+NN"})
    msd = MSD.get(task)
    layouts = [{"kind": "msd"}] if msd else []
    layouts += [ORIGINAL_LAYOUTS[task]] if task in ORIGINAL_LAYOUTS else []
    layouts += [] if layouts and layouts[-1]["kind"] == "nnunet" else [{"kind": "nnunet"}]
    dataset_name, short = info.get("数据集名称", "").strip(), task.split("_", 1)[1]
    candidates = [dataset_name] + ([short] if short_names[short.casefold()] == 1 else [])
    seen = {display.casefold(), task.casefold()}
    aliases = [a for a in candidates if a and not (a.casefold() in seen or seen.add(a.casefold()))]
    return {
        "schema": SCHEMA_ID, "kind": "catalog", "task_id": task, "nnunet_id": ids[task],
        "display_name": display, "aliases": aliases,
        "modality": MODALITY[paper["modality"]], "target": TARGET[paper["target"]],
        "region": regions_for(pairs, groups), "channels": channels_for(row), "labels": labels,
        "cases": {"paper": int(paper["cases_paper"]), "train": int(row["Train cases"]),
                  "test": int(row["Test cases"])},
        "reference_plan": {"patch": ast.literal_eval(row["Patch size"]),
                           "spacing": ast.literal_eval(row["Training spacing"]), "axes": "zyx"},
        "paper_dice": {k: float(row[f"Dice {k}"]) for k in PAPER_KEYS},
        "source": source_block(sources[task], homepage=homepage, framework=row["Framework"],
                               citation=bibtex(info.get("bib", "")),
                               expected_url=MSD_MIRROR.format(msd) if msd else None),
        "prepare": {"formats": sources[task]["formats"], "layouts": layouts},
        "corrections": corrections,
        "notes": [notes[task] for notes in (IDENTITY_NOTES, LAYOUT_NOTES) if task in notes],
    }


DEMO = {
    "schema": SCHEMA_ID, "kind": "demo", "task_id": "Task999_SegBookDemo", "nnunet_id": 999,
    "display_name": "Demo", "aliases": ["SegBookDemo"], "modality": "MRI", "target": "structure & lesion",
    "region": ["Others"], "channels": [{"name": "synthetic MR", "normalization": "ZScoreNormalization"}],
    "labels": {0: "background", 1: "organ", 2: "lesion"},
    # segbook.demo.sources.DEMO_CASES = 10 phantoms: 8 training, 2 held out
    "cases": {"paper": None, "train": 8, "test": 2}, "reference_plan": None, "paper_dice": {},
    "source": {"homepage": None, "licence": "Apache-2.0", "access": "embedded", "url": None},
    "prepare": {"from": "generated by segbook demo", "layouts": [{"kind": "nnunet"}]},
    "corrections": [],
    "notes": ["Synthetic MR-like volumes written by `segbook demo`; not a SegBook dataset."],
}


class _Dumper(yaml.SafeDumper):
    pass


def _repr_str(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _repr_list(dumper, value):  # short lists of scalars inline, everything else block
    flow = all(isinstance(v, (int, float, str)) for v in value) and len(str(value)) < 90
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


def _repr_dict(dumper, value):
    scalars = all(isinstance(v, (int, float, str, type(None))) for v in value.values())
    flow = scalars and len(str(value)) < 90 and not all(isinstance(k, int) for k in value)
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=flow)


_Dumper.add_representer(str, _repr_str)
_Dumper.add_representer(list, _repr_list)
_Dumper.add_representer(dict, _repr_dict)


def render(data: dict) -> str:
    head = (f"# {data['task_id']} - generated by scripts/generate_manifests.py from manifests/reference/;\n"
            "# edit the generator (or its reference data), not this file.\n")
    return head + yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def generate() -> dict[str, str]:
    rows = read_csv("STU_Benchmark_Information.csv")
    papers = {r["task"]: r for r in read_csv("paper_table5.csv")}
    infos = {norm_key(r["benchmark名字"]): r
             for r in read_csv("dataset_detailed_info.csv") if r["benchmark名字"]}
    tasks = [r["Dataset"] for r in rows]
    if len(tasks) != 87 or set(tasks) != set(papers) or len(set(tasks)) != 87:
        raise SystemExit("reference files disagree on the 87 datasets")
    missing = [t for t in tasks if norm_key(t) not in infos]
    if missing:
        raise SystemExit(f"no detailed info for {missing}")
    ids, groups = resolve_nnunet_ids(tasks), class_groups()
    short_names = Counter(t.split("_", 1)[1].casefold() for t in tasks)
    sources = {r["task_id"]: r for r in read_csv("dataset_sources.csv")}
    if set(sources) != set(tasks):
        raise SystemExit("dataset_sources.csv does not list the 87 datasets")
    built = [build(row, papers[row["Dataset"]], infos[norm_key(row["Dataset"])], ids, groups, short_names, sources)
             for row in rows]
    primary = {n.casefold() for m in built + [DEMO] for n in (m["task_id"], m["display_name"])}
    out = {f"{DEMO['task_id']}.yaml": render(DEMO)}
    for data in built:  # an alias must never shadow another dataset's task id or display name
        data["aliases"] = [a for a in data["aliases"] if a.casefold() not in primary]
        out[f"{data['task_id']}.yaml"] = render(data)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on any difference")
    args = parser.parse_args(argv)
    wanted = generate()
    stale = sorted(set(p.name for p in OUT.glob("*.yaml")) - set(wanted))
    changed = [n for n, text in wanted.items()
               if not (OUT / n).exists() or (OUT / n).read_text(encoding="utf-8") != text]
    if args.check:
        for name in changed + stale:
            print(f"out of date: manifests/datasets/{name}")
        return 1 if changed or stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name in changed:
        (OUT / name).write_text(wanted[name], encoding="utf-8")
    for name in stale:
        (OUT / name).unlink()
    print(f"{len(wanted)} manifests: {len(changed)} written, {len(stale)} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
