"""Training data: frame pairs from anime clips (:mod:`.video_pairs`), point matching
(:mod:`.matching`), augmentations (:mod:`.augment`), the torch dataset (:mod:`.dataset`) and
synthetic cel-animation pairs (:mod:`.synthetic`)."""
