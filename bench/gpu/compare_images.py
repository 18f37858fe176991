"""max |diff| and mean |diff| between two 8-bit PNGs, in [0,1] units.
usage: python3 compare_images.py LABEL A.png B.png"""
import json, sys
import numpy as np
from PIL import Image

a = np.asarray(Image.open(sys.argv[2]).convert("RGB"), dtype=np.float64) / 255
b = np.asarray(Image.open(sys.argv[3]).convert("RGB"), dtype=np.float64) / 255
d = np.abs(a - b)
print(json.dumps({"compare": sys.argv[1], "a": sys.argv[2], "b": sys.argv[3], "max_abs_diff": round(float(d.max()), 4),
                  "mean_abs_diff": round(float(d.mean()), 5), "p99_abs_diff": round(float(np.quantile(d, 0.99)), 4),
                  "image_std": round(float(a.std()), 4)}), flush=True)
