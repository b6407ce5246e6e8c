"""File names of a synth run (``skinedge synth train``) and of a synthetic dataset
(``skinedge synth sample``), shared by training, sampling and mixing without import loops."""
STATE = "state.json"                      # per stage folder: step, losses
MODEL_DIR = "model"                       # the finished model inside a run
MODEL_CARD = "synth_card.json"
SCHEMA = "skinedge.synth_model/1"
MANIFEST = "synth_manifest.json"          # inside a synthetic dataset folder
MANIFEST_SCHEMA = "skinedge.synth_dataset/1"
SAMPLERS = ("dpm", "ddim")              # DPM-Solver++ (default) or DDIM
