"""Run a training recipe and record what each process did, for the distributed tests:

    accelerate launch ... tests/scripts/rank_probe.py DUMP_DIR scripts/train_codec.py ARGS...

Each process writes `DUMP_DIR/rank{N}.json`: a hash of every batch its prepared data loaders yielded and, when the
recipe ends its training (`Accelerator.end_training`), a hash of each prepared model's weights. It observes the
recipe through accelerate's own classes and changes nothing it does.
"""

import hashlib
import json
import runpy
import sys
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.data_loader import DataLoaderDispatcher, DataLoaderShard


def _hash_tensors(tensors) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _tensors(batch):
    if torch.is_tensor(batch):
        return [batch]
    if isinstance(batch, dict):
        return [t for key in sorted(batch) for t in _tensors(batch[key])]
    if isinstance(batch, (list, tuple)):
        return [t for item in batch for t in _tensors(item)]
    return []


def main():
    dump_dir, recipe, *recipe_args = sys.argv[1:]
    batches = []

    def recording(iterate):
        def __iter__(self):
            for batch in iterate(self):
                batches.append(_hash_tensors(_tensors(batch)))
                yield batch

        return __iter__

    for loader_class in (DataLoaderShard, DataLoaderDispatcher):
        loader_class.__iter__ = recording(loader_class.__iter__)

    end_training = Accelerator.end_training

    def dump_and_end_training(self):
        weights = [_hash_tensors([v for _, v in sorted(self.unwrap_model(m).state_dict().items())])
                   for m in self._models]
        Path(dump_dir).mkdir(parents=True, exist_ok=True)
        record = {"process_index": self.process_index, "num_processes": self.num_processes, "batches": batches,
                  "weights_sha256": weights}
        (Path(dump_dir) / f"rank{self.process_index}.json").write_text(json.dumps(record, indent=1))
        end_training(self)

    Accelerator.end_training = dump_and_end_training
    sys.argv = [recipe, *recipe_args]
    runpy.run_path(recipe, run_name="__main__")


if __name__ == "__main__":
    main()
