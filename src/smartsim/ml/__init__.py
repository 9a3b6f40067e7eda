"""Machine-learning helpers (``smartsim.ml.tf``: serialize and freeze Keras models for the
database). Importing ``smartsim.ml`` imports no ML framework."""
