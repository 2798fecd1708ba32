"""A minimal model family for tests: pixel space, one tiny 3D conv net, reconstruction-guided long videos.

Registered with ``vgen.families.register("toy", "tests.toy_family")`` it goes through ``vgen train``,
``vgen sample`` and ``vgen extend`` like a built-in family: this folder (config + family) is all it needs.
"""
