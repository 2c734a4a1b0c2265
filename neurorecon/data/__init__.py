"""Data: built-in tasks, ``.npz`` data files, validation (the first stage of the pipeline)."""

from neurorecon.data.dataset import Dataset, check_labels, check_seed, check_sequences, make_dataset, payload_bits
from neurorecon.data.tasks import TASKS, load_data

__all__ = ["Dataset", "TASKS", "check_labels", "check_seed", "check_sequences", "load_data", "make_dataset", "payload_bits"]
