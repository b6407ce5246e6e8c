"""MAE pre-training of ViT teachers (``skinedge pretrain``)."""
