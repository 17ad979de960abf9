#!/usr/bin/env python3
"""Compare `aviso zonal` with exactextract (PyPI `exactextract`) on the same grid and polygons.

Both tools compute Σ value × exact coverage fraction per polygon. This script runs both on
one raster and one polygon file, and reports the largest relative difference of the sums and
both times. Exit status 1 if any sum differs by more than --tolerance (default 1e-6,
relative), 2 if exactextract is missing.

The raster reaches exactextract as an in-memory NumPy array (exactextract's GDAL/rasterio
loaders need the osgeo or rasterio Python packages, which this script does not assume); the
raw cells are dumped exactly with `gdal_translate -of ENVI` (gdal-bin). Times:
- aviso: the zonal loop as `aviso zonal` reports it (open raster + GeoJSON excluded, GDAL
  window reads included);
- exactextract: the `exact_extract()` call alone (GeoJSON already parsed, raster in memory).

Usage:
  scripts/compare_exactextract.py --raster GRID.tif --polygons FILE.geojson \
      [--id-field NAME] [--aviso target/debug/aviso] [--tolerance 1e-6] [--repeat 3]
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raster", required=True)
    ap.add_argument("--polygons", required=True)
    ap.add_argument("--id-field")
    ap.add_argument("--aviso", default=os.environ.get("AVISO_BIN", "target/debug/aviso"))
    ap.add_argument("--tolerance", type=float, default=1e-6)
    ap.add_argument("--repeat", type=int, default=3, help="take the fastest of N runs of each")
    args = ap.parse_args()

    try:
        import numpy as np
        from exactextract import exact_extract
        from exactextract.feature import JSONFeatureSource
        from exactextract.raster import NumPyRasterSource
    except ImportError as e:
        print(f"skipping: exactextract is not importable by {sys.executable} ({e}); "
              "pip install exactextract", file=sys.stderr)
        return 2

    info = json.loads(subprocess.run(["gdalinfo", "-json", args.raster], check=True,
                                     capture_output=True, text=True).stdout)
    width, height = info["size"]
    gt = info["geoTransform"]
    band = info["bands"][0]
    nodata = band.get("noDataValue")
    dtype = {"Float32": "<f4", "Float64": "<f8", "Int16": "<i2", "UInt16": "<u2",
             "Int32": "<i4", "UInt32": "<u4", "Byte": "u1"}[band["type"]]
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "grid.bin")
        subprocess.run(["gdal_translate", "-q", "-of", "ENVI", args.raster, raw], check=True)
        cells = np.fromfile(raw, dtype=dtype).reshape(height, width).astype("f8")
    scale, offset = band.get("scale", 1.0), band.get("offset", 0.0)
    # Nodata is passed as a value, not as a NumPy mask: exactextract 0.3.0 ignores the mask
    # of a masked array for polygons reaching past the grid edge (the Freddy swaths summed
    # to -2.4e43, i.e. nodata cells of -3.4e38 were added), while nodata= is honoured.
    sentinel = None
    if nodata is not None:
        mask = cells == np.array(nodata, dtype=dtype).astype("f8")
        cells = cells * scale + offset
        sentinel = float(np.array(nodata, dtype=dtype).astype("f8"))
        cells[mask] = sentinel
    else:
        cells = cells * scale + offset
    raster = NumPyRasterSource(cells, gt[0], gt[3] + gt[5] * height, gt[0] + gt[1] * width,
                               gt[3], nodata=sentinel)

    with open(args.polygons) as f:
        features = json.load(f)["features"]
    for i, feat in enumerate(features):
        feat.setdefault("properties", {})["_index"] = i

    ee_best = math.inf
    for _ in range(args.repeat):
        t = time.perf_counter()
        ee = exact_extract(raster, JSONFeatureSource(features), ["sum"],
                           include_cols=["_index"], output="geojson")
        ee_best = min(ee_best, time.perf_counter() - t)
    ee_sum = {f["properties"]["_index"]: f["properties"]["sum"] for f in ee}

    av_best = math.inf
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "zonal.csv")
        cmd = [args.aviso, "zonal", "--raster", args.raster, "--polygons", args.polygons,
               "--out", out]
        for _ in range(args.repeat):
            run = subprocess.run(cmd, check=True, capture_output=True, text=True)
            m = re.search(r"in ([0-9.]+) ms", run.stderr)
            av_best = min(av_best, float(m.group(1)) / 1e3 if m else math.inf)
        with open(out) as f:
            lines = f.read().splitlines()[1:]
    av_sum = [float(line.rsplit(",", 2)[1]) for line in lines]

    if len(av_sum) != len(features):
        print(f"aviso wrote {len(av_sum)} rows for {len(features)} features", file=sys.stderr)
        return 1
    # Differences below 1e-6 of a person are rounding on cells a polygon barely touches
    # (coverage fractions of 1e-15 along a shared border), not disagreements.
    worst, worst_i = 0.0, None
    for i, a in enumerate(av_sum):
        e = ee_sum.get(i) or 0.0
        scale_ref = max(abs(a), abs(e))
        rel = abs(a - e) / scale_ref if abs(a - e) > 1e-6 else 0.0
        if rel > worst:
            worst, worst_i = rel, i
    ident = ""
    if worst_i is not None:
        props = features[worst_i]["properties"]
        name = props.get(args.id_field) if args.id_field else worst_i
        ident = f" (feature {worst_i} {name}: aviso {av_sum[worst_i]!r}, exactextract {ee_sum.get(worst_i)!r})"
    print(f"grid {args.raster} ({width}x{height} cells), {len(features)} polygons from {args.polygons}")
    print(f"max relative difference: {worst:.3e}{ident}")
    print(f"totals: aviso {sum(av_sum):.6f}, exactextract {sum(ee_sum.values()):.6f}")
    ratio = ee_best / av_best if av_best > 0 else math.inf
    print(f"time: aviso {av_best * 1e3:.1f} ms, exactextract {ee_best * 1e3:.1f} ms "
          f"(exactextract / aviso = {ratio:.2f}; aviso binary {args.aviso})")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
