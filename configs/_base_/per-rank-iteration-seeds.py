# Random numbers drawn in a training iteration (RoI sampling, SE dropout)
# depend on the seed, the iteration and the rank alone: each rank draws its
# own, and --resume repeats an uninterrupted run (IterationSeedHook).
custom_hooks = [dict(type='IterationSeedHook')]
# seed=None: mmengine draws one seed per run, the same on every rank (its
# Runner requires the key)
randomness = dict(seed=None, diff_rank_seed=True)
