"""Classifier commands end to end: train -> eval (CSV) -> calibrate on a small
synthetic data set whose classes are easy to tell apart, plus the error paths
a user meets first (missing model, bad options). Fast: few trees, small dim."""
import csv
import json
import os
import re
import subprocess
import sys
import tempfile

BIN = os.environ.get("HR_BIN", "build/hermes-router")


def run(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def write_data(path, per_class=40):
    with open(path, "w", encoding="utf-8") as f:
        for i in range(per_class * 3):
            cls = i % 3
            if cls == 0:
                prompt, lang = f"Say hello to my friend number {i}, please.", "en"
            elif cls == 1:
                prompt = f"Fix this function {i}:\n```python\ndef f(x):\n    return x + {i}\n```\nIt is wrong."
                lang = "en"
            else:
                prompt, lang = f"请证明第{i}个定理：对于所有正整数n，n的平方加n是偶数。", "zh"
            q = {t: (1.0 if k >= cls else 0.0) for k, t in enumerate(["small", "medium", "large"])}
            row = {"id": f"syn:{i}", "source": "syn" if i % 2 else "syn2", "lang": lang, "category": "x",
                   "prompt": prompt, "quality": q, "label": ["small", "medium", "large"][cls]}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def main():
    with tempfile.TemporaryDirectory() as d:
        data, model, out_csv = os.path.join(d, "d.jsonl"), os.path.join(d, "m.ubj"), os.path.join(d, "c.csv")
        write_data(data)

        rc, out, err = run("train", "--data", data, "--out", model, "--trees", "6", "--depth", "3", "--dim", "256",
                           "--eta", "0.5", "--nthread", "1", "--quiet")
        check(rc == 0, f"train failed: {err}")
        check(os.path.exists(model) and os.path.exists(model + ".meta.json"), "model files missing")
        check("validation:" in out and "oracle" in out, f"train prints validation metrics: {out}")
        m = re.search(r"default threshold ([0-9.]+): cost ([0-9.]+)", out)
        check(m is not None, f"train calibrates the default threshold: {out}")
        meta = json.load(open(model + ".meta.json"))
        check(abs(meta["threshold"] - float(m.group(1))) < 1e-4, "sidecar keeps the calibrated threshold")
        check(meta["features"]["dim"] == 256 and meta["tiers"] == ["small", "medium", "large"], f"sidecar {meta}")

        rc, out, err = run("eval", "--data", data, "--model", model, "--csv", out_csv, "--thresholds", "0.3,0.5,0.7")
        check(rc == 0, f"eval failed: {err}")
        check("baselines" in out and "classifier curve" in out, "eval output sections")
        rows = list(csv.DictReader(open(out_csv)))
        by = {(r["router"], r["threshold"], r["group"]): r for r in rows}
        small = by[("all-small", "0.0000", "all")]
        large = by[("all-large", "0.0000", "all")]
        check(abs(float(small["cost"]) - 8 / 405) < 1e-4, "all-small cost is 8/405")
        check(abs(float(large["cost"]) - 1) < 1e-9 and abs(float(large["pgr"]) - 1) < 1e-9, "all-large")
        oracle = by[("oracle", "0.0000", "all")]
        check(abs(float(oracle["pgr"]) - 1) < 1e-9, "oracle recovers the whole gap here")
        for t in ("0.3000", "0.5000", "0.7000"):
            for g in ("all", "lang=en", "lang=zh", "source=syn", "source=syn2"):
                check(("classifier", t, g) in by and ("random", t, g) in by, f"curve point {t} {g}")
        # the classes are separable: the classifier routes like the oracle at 0.5
        c = by[("classifier", "0.5000", "all")]
        check(float(c["pgr"]) > 0.95 and abs(float(c["cost"]) - float(oracle["cost"])) < 0.05, f"classifier {c}")
        check(float(by[("random", "0.5000", "all")]["pgr"]) < 0.8, "random at the same mix is worse")

        rc, out, err = run("calibrate", "--data", data, "--model", model, "--target-large", "0.33")
        check(rc == 0, f"calibrate failed: {err}")
        m = re.search(r"large ([0-9.]+)%", out)
        check(m and abs(float(m.group(1)) - 33.3) < 2, f"calibrated large share: {out}")
        check("threshold:" in out, "calibrate prints the config line")
        rc, out, err = run("calibrate", "--data", data, "--model", model, "--target-cost", "0.2", "--write")
        m = re.search(r"threshold ([0-9.]+) ->", out)
        check(rc == 0 and m, f"calibrate --write: {out} {err}")
        meta = json.load(open(model + ".meta.json"))
        check(abs(meta["threshold"] - float(m.group(1))) < 1e-4, "calibrate --write stores the threshold")

        # two folds: each model holds out one half; eval joins them into every row
        folds = []
        for f in (0, 1):
            fm = os.path.join(d, f"fold{f}.ubj")
            rc, out, err = run("train", "--data", data, "--out", fm, "--trees", "3", "--dim", "128", "--nthread", "1",
                               "--folds", "2", "--fold", str(f), "--quiet")
            check(rc == 0, f"train fold {f}: {err}")
            folds.append(fm)
        rc, out, err = run("eval", "--data", data, "--model", ",".join(folds), "--split", "heldout")
        check(rc == 0 and "split heldout: 120 of 120 rows" in out, f"joined folds cover every row: {out[:300]} {err}")
        rc, out, err = run("eval", "--data", data, "--model", ",".join(folds))
        check(rc == 1 and "heldout" in err, f"several models need --split heldout: {err}")

        rc, out, err = run("eval", "--data", data, "--model", os.path.join(d, "none.ubj"))
        check(rc == 1 and "cannot open" in err, f"missing model: {rc} {err}")
        rc, out, err = run("train", "--data", data, "--out", model, "--val", "2")
        check(rc == 2 and "--val" in err, f"bad --val: {rc} {err}")
        rc, out, err = run("calibrate", "--data", data, "--model", model)
        check(rc == 2 and "target" in err, f"calibrate without a target: {rc} {err}")
    print("ok")


if __name__ == "__main__":
    main()
