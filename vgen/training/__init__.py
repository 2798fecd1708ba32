"""Training: the optimisation loop, objectives per family, EMA, crash-safe checkpoints, resume and DDP.

Entry point: ``vgen.training.session.train(TrainRequest, Hooks)``; ``vgen train`` goes through ``request``
(plain option values to a ``TrainRequest``, its dry run or its run). Modules:
``options`` (TrainOptions), ``order`` (data order and per-sample seeds as functions of (seed, step)),
``objectives`` (one loss per family and stage), ``stages`` (which modules train), ``trainer`` (the
loop), ``ema``, ``runfolder`` (run folder and checkpoints), ``distributed`` (torchrun), ``memory``
(the ``--dry-run`` estimate). Nothing is imported here, so ``import vgen.training`` stays cheap.
"""
