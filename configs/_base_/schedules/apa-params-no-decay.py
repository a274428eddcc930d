# Opt-in: exclude APA/AGLU λ and κ from weight decay (as the official
# ImageNet pre-training did). Off in the official detection recipes, which
# decayed them. Add this file to a config's `_base_` list to switch it on.
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys=dict(
            lambda_param=dict(decay_mult=0.), kappa_param=dict(decay_mult=0.))))
