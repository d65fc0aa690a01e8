"""The parts of ``python -m pmgsam.ablate`` (the command lives in :mod:`pmgsam.ablate`): its
options, the checks that keep a grid's rows comparable, the training data and ground truth its
kept scores were made with, the guard of its map folders, and the scoring of one variant."""
