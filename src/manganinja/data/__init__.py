"""Training data: frame pairs from anime clips (:mod:`.video_pairs`), point matching
(:mod:`.matching`), augmentations (:mod:`.augment`) and the torch dataset (:mod:`.dataset`)."""
