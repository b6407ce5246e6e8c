"""``skinedge pretrain``: MAE pre-training of a ViT teacher."""
from __future__ import annotations


from .config import PRESETS, PretrainConfig, preset_config

# Flags whose default comes from the chosen --preset.
PRESET_FLAGS = tuple(sorted({k for p in PRESETS.values() for k in p}))


def add_pretrain(sub) -> None:
    p = sub.add_parser("pretrain", help="MAE pre-training of a ViT teacher",
                       description="Masked-autoencoder pre-training (75% of 16 px patches hidden, "
                       "a light decoder predicts their normalised pixels) of a ViT on the train "
                       "split of the lesion-disjoint split (same --seed as `skinedge train`), "
                       "plus optional synthetic images. Writes reconstructions.png and loss "
                       "curves every epoch; best/ is a checkpoint of the encoder that "
                       "`skinedge train --arch SAME_VIT --init RUN/best` fine-tunes. Rerun the "
                       "same command to resume; DDP under torchrun.")
    PretrainConfig.add_arguments(p, defaults={k: None for k in PRESET_FLAGS},
                                 defaults_from="the preset")
    p.set_defaults(func=_run)


def _run(a) -> int:
    from .loop import pretrain

    flags = PretrainConfig.flag_values(a)
    result = pretrain(preset_config(flags.pop("preset"), **flags))
    if result["history"]:
        print(f"MAE: {len(result['history'])} epochs, best val masked-patch loss "
              f"{result['best_val_loss']:.4f} -> {result['best']}")
    return 0
