"""The network and everything that runs it: data, scores at initialisation, training, checkpoints,
devices. Every module here imports torch (data too, for the tensors it returns); nothing outside
model/, build/ and jobs.py imports this package."""
