"""airbench94_muon's recipe in Keras on the 45k/5k split: one validation run (issue 12). Run from the repository root: python wip/muon_runs/validation_run.py SEED EPS."""
import json, sys, time
import numpy as np
from utils import better_cnn, data, inside, precision

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
eps = float(sys.argv[2]) if len(sys.argv) > 2 else 5e-4
tag = f"seed{seed}_eps{eps:g}"
(x_train, y_train), (x_val, y_val), _ = data.load_cifar10()
policy, _ = precision.choose_precision(precision.describe_hardware())
print(data.describe_source(), "|", policy, flush=True)
start = time.perf_counter()
network = better_cnn.train(x_train, y_train, f"wip/muon_runs/history_{tag}.csv",
                           validation_data=(x_val, y_val), epochs=8,
                           batch_size=better_cnn.MUON_BATCH_SIZE, seed=seed,
                           precision=policy, recipe="airbench94_muon",
                           whitening_eps=eps)
train_s = time.perf_counter() - start
tta = better_cnn.with_test_time_augmentation(network)
p_plain = network.predict(x_val, batch_size=1000, verbose=0)
p_tta = tta.predict(x_val, batch_size=1000, verbose=0)
np.save(f"wip/muon_runs/val_probabilities_{tag}.npy", p_tta)
p_noise = tta.predict(inside.gaussian_noise(x_val, 20), batch_size=1000, verbose=0)
result = {"seed": seed, "whitening_eps": eps, "epochs": 8, "batch_size": 2000, "precision": policy,
          "train_seconds": round(train_s, 1),
          "val_accuracy": float((p_plain.argmax(1) == y_val).mean()),
          "val_accuracy_tta": float((p_tta.argmax(1) == y_val).mean()),
          "val_accuracy_tta_noise20": float((p_noise.argmax(1) == y_val).mean())}
print(json.dumps(result), flush=True)
json.dump(result, open(f"wip/muon_runs/result_{tag}.json", "w"), indent=2)
