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
# A fixed seed (mmengine's Runner requires the key): the data loader and its
# workers are seeded before --resume restores anything, so a resumed run
# repeats the interrupted one only with the seed it started with. Another
# run: --cfg-options randomness.seed=N (and the same N when resuming it).
randomness = dict(seed=0, diff_rank_seed=True)
