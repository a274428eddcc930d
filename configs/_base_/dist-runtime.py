# What the real recipes add to mmdet's runtime for distributed runs.
# Random numbers drawn in a training iteration (RoI sampling, SE dropout)
# depend on the seed, the iteration and the rank alone: each rank draws its
# own, and --resume repeats an uninterrupted run (IterationSeedHook).
# Evaluation results gather in <work_dir>/.dist_test, which every node
# shares, whatever directory each node was launched from
# (SharedCollectDirHook).
custom_hooks = [
    dict(type='IterationSeedHook'),
    dict(type='SharedCollectDirHook')
]
# seed=None: mmengine draws one seed per run, the same on every rank (its
# Runner requires the key)
randomness = dict(seed=None, diff_rank_seed=True)
